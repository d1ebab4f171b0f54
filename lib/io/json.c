/* A small strict JSON parser building a tree with the context's allocator. */
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "io/json.h"

/* Nesting limit: recursion depth stays small whatever the input. */
#define JSON_MAX_DEPTH 64

typedef struct parser {
    tdl_ctx *ctx;
    const unsigned char *s;
    size_t len;
    size_t pos;
    int depth;
    char *msg;
} parser;

static tdl_status parse_value(parser *p, tdl_json *out);

static tdl_status syntax(parser *p, const char *what)
{
    if (p->pos >= p->len)
        return tdl_io_msg(p->msg, TDL_ERR_FORMAT, "at byte %zu: %s (the text ends there)", p->pos,
                          what);
    unsigned char c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        return tdl_io_msg(p->msg, TDL_ERR_FORMAT, "at byte %zu: %s, found '%c'", p->pos, what, c);
    return tdl_io_msg(p->msg, TDL_ERR_FORMAT, "at byte %zu: %s, found byte 0x%02x", p->pos, what,
                      c);
}

static tdl_status oom(parser *p)
{
    return tdl_io_msg(p->msg, TDL_ERR_OUT_OF_MEMORY, "out of memory parsing JSON");
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

void tdl_json_free(tdl_ctx *ctx, tdl_json *v)
{
    if (!v)
        return;
    if (v->type == TDL_JSON_STRING) {
        tdl_free(ctx, v->str);
    } else if (v->type == TDL_JSON_ARRAY) {
        for (size_t i = 0; i < v->len; ++i)
            tdl_json_free(ctx, &v->items[i]);
        tdl_free(ctx, v->items);
    } else if (v->type == TDL_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; ++i) {
            tdl_free(ctx, v->members[i].key);
            tdl_json_free(ctx, &v->members[i].value);
        }
        tdl_free(ctx, v->members);
    }
    memset(v, 0, sizeof *v);
}

static tdl_status parse_literal(parser *p, const char *word, tdl_json_type type, tdl_json *out)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return syntax(p, "expected a JSON value");
    p->pos += n;
    out->type = type;
    return TDL_OK;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static tdl_status parse_number(parser *p, tdl_json *out)
{
    int negative = 0, integer = 1, overflow = 0;
    uint64_t u = 0;
    if (p->s[p->pos] == '-') {
        negative = 1;
        p->pos++;
    }
    if (p->pos >= p->len || !is_digit(p->s[p->pos]))
        return syntax(p, "expected a digit");
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(p->s[p->pos]))
            return syntax(p, "leading zeros are not allowed in JSON numbers");
    } else {
        while (p->pos < p->len && is_digit(p->s[p->pos])) {
            unsigned d = (unsigned)(p->s[p->pos] - '0');
            if (u > (UINT64_MAX - d) / 10)
                overflow = 1;
            else
                u = u * 10 + d;
            p->pos++;
        }
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integer = 0;
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return syntax(p, "expected a digit after the decimal point");
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integer = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return syntax(p, "expected a digit in the exponent");
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    out->type = TDL_JSON_NUMBER;
    out->is_uint = integer && !negative && !overflow;
    out->u = out->is_uint ? u : 0;
    return TDL_OK;
}

static int hex4(const unsigned char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1), or 0 when invalid
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; ++i) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int tdl_json_valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* Parses a string at p->pos (which holds the opening quote) into a fresh
 * NUL-terminated buffer. */
static tdl_status parse_string(parser *p, char **out, size_t *out_len)
{
    size_t start = ++p->pos;
    /* Find the closing quote: the decoded text is never longer than the raw one. */
    size_t end = start;
    while (end < p->len && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len) {
        p->pos = p->len;
        return syntax(p, "unterminated string");
    }
    char *d = tdl_alloc(p->ctx, end - start + 1);
    if (!d)
        return oom(p);
    size_t n = 0;
    while (p->pos < end) {
        unsigned char c = p->s[p->pos];
        if (c < 0x20) {
            tdl_free(p->ctx, d);
            return syntax(p, "control character in a string (must be escaped)");
        }
        if (c != '\\') {
            size_t k = utf8_seq(p->s + p->pos, end - p->pos);
            if (k == 0) {
                tdl_free(p->ctx, d);
                return syntax(p, "invalid UTF-8 in a string");
            }
            memcpy(d + n, p->s + p->pos, k);
            n += k;
            p->pos += k;
            continue;
        }
        static const char esc[] = "\"\\/bfnrt";
        static const char repl[] = "\"\\/\b\f\n\r\t";
        unsigned char e = p->s[p->pos + 1];
        const char *simple = e != 0 ? strchr(esc, e) : NULL;
        if (simple) {
            d[n++] = repl[simple - esc];
            p->pos += 2;
            continue;
        }
        uint32_t cp;
        if (e != 'u' || end - p->pos < 6 || hex4(p->s + p->pos + 2, &cp) != 0) {
            tdl_free(p->ctx, d);
            return syntax(p, "invalid escape sequence in a string");
        }
        size_t esc_at = p->pos;
        p->pos += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (end - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                hex4(p->s + p->pos + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                tdl_free(p->ctx, d);
                p->pos = esc_at;
                return syntax(p, "unpaired UTF-16 surrogate escape in a string");
            }
            p->pos += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            tdl_free(p->ctx, d);
            p->pos = esc_at;
            return syntax(p, "unpaired UTF-16 surrogate escape in a string");
        }
        n += put_utf8(d + n, cp);
    }
    d[n] = 0;
    p->pos = end + 1;
    *out = d;
    *out_len = n;
    return TDL_OK;
}

static tdl_status parse_array(parser *p, tdl_json *out)
{
    out->type = TDL_JSON_ARRAY;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return TDL_OK;
    }
    size_t cap = 0;
    for (;;) {
        if (out->len == cap) {
            size_t ncap = cap ? 2 * cap : 4;
            tdl_json *ni = NULL;
            if (ncap <= SIZE_MAX / sizeof *ni)
                ni = tdl_realloc(p->ctx, out->items, ncap * sizeof *ni);
            if (!ni)
                return oom(p);
            out->items = ni;
            cap = ncap;
        }
        tdl_json *item = &out->items[out->len];
        memset(item, 0, sizeof *item);
        tdl_status st = parse_value(p, item);
        if (st != TDL_OK)
            return st;
        out->len++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            return TDL_OK;
        }
        return syntax(p, "expected ',' or ']' in an array");
    }
}

static int member_cmp(const void *a, const void *b)
{
    const tdl_json_member *x = *(const tdl_json_member *const *)a;
    const tdl_json_member *y = *(const tdl_json_member *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Rejects duplicate keys (sort pointers to the members, compare neighbours). */
static tdl_status check_duplicates(parser *p, const tdl_json *obj)
{
    if (obj->len < 2)
        return TDL_OK;
    const tdl_json_member **sorted = tdl_calloc(p->ctx, obj->len, sizeof *sorted);
    if (!sorted)
        return oom(p);
    for (size_t i = 0; i < obj->len; ++i)
        sorted[i] = &obj->members[i];
    qsort(sorted, obj->len, sizeof *sorted, member_cmp);
    tdl_status st = TDL_OK;
    for (size_t i = 1; i < obj->len; ++i) {
        if (member_cmp(&sorted[i - 1], &sorted[i]) == 0) {
            st = tdl_io_msg(p->msg, TDL_ERR_FORMAT, "at byte %zu: duplicate object key \"%.*s\"",
                            sorted[i]->value.offset,
                            (int)(sorted[i]->key_len > 200 ? 200 : sorted[i]->key_len),
                            sorted[i]->key);
            break;
        }
    }
    tdl_free(p->ctx, (void *)sorted);
    return st;
}

static tdl_status parse_object(parser *p, tdl_json *out)
{
    out->type = TDL_JSON_OBJECT;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return TDL_OK;
    }
    size_t cap = 0;
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"')
            return syntax(p, "expected a string key in an object");
        if (out->len == cap) {
            size_t ncap = cap ? 2 * cap : 4;
            tdl_json_member *nm = NULL;
            if (ncap <= SIZE_MAX / sizeof *nm)
                nm = tdl_realloc(p->ctx, out->members, ncap * sizeof *nm);
            if (!nm)
                return oom(p);
            out->members = nm;
            cap = ncap;
        }
        tdl_json_member *m = &out->members[out->len];
        memset(m, 0, sizeof *m);
        tdl_status st = parse_string(p, &m->key, &m->key_len);
        if (st != TDL_OK)
            return st;
        out->len++; /* counted now so that a failure below frees the key */
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return syntax(p, "expected ':' after an object key");
        p->pos++;
        st = parse_value(p, &m->value);
        if (st != TDL_OK)
            return st;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            return check_duplicates(p, out);
        }
        return syntax(p, "expected ',' or '}' in an object");
    }
}

static tdl_status parse_value(parser *p, tdl_json *out)
{
    skip_ws(p);
    out->offset = p->pos;
    if (p->pos >= p->len)
        return syntax(p, "expected a JSON value");
    if (p->depth >= JSON_MAX_DEPTH)
        return syntax(p, "nesting deeper than 64 levels");
    tdl_status st;
    p->depth++;
    switch (p->s[p->pos]) {
    case '{': st = parse_object(p, out); break;
    case '[': st = parse_array(p, out); break;
    case '"':
        out->type = TDL_JSON_STRING;
        st = parse_string(p, &out->str, &out->len);
        break;
    case 't': st = parse_literal(p, "true", TDL_JSON_TRUE, out); break;
    case 'f': st = parse_literal(p, "false", TDL_JSON_FALSE, out); break;
    case 'n': st = parse_literal(p, "null", TDL_JSON_NULL, out); break;
    default:
        if (p->s[p->pos] == '-' || is_digit(p->s[p->pos]))
            st = parse_number(p, out);
        else
            st = syntax(p, "expected a JSON value");
        break;
    }
    p->depth--;
    if (st != TDL_OK)
        tdl_json_free(p->ctx, out); /* the caller has not counted this value yet */
    return st;
}

tdl_status tdl_json_parse(tdl_ctx *ctx, const char *text, size_t len, tdl_json *out, char *msg)
{
    parser p = {ctx, (const unsigned char *)text, len, 0, 0, msg};
    memset(out, 0, sizeof *out);
    tdl_status st = parse_value(&p, out);
    if (st == TDL_OK) {
        skip_ws(&p);
        if (p.pos != p.len)
            st = syntax(&p, "unexpected text after the JSON value");
    }
    if (st != TDL_OK)
        tdl_json_free(ctx, out);
    return st;
}

const tdl_json *tdl_json_get(const tdl_json *obj, const char *key)
{
    if (!obj || obj->type != TDL_JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->len; ++i)
        if (obj->members[i].key_len == n && memcmp(obj->members[i].key, key, n) == 0)
            return &obj->members[i].value;
    return NULL;
}

const char *tdl_json_type_name(tdl_json_type t)
{
    switch (t) {
    case TDL_JSON_NULL: return "null";
    case TDL_JSON_FALSE:
    case TDL_JSON_TRUE: return "a boolean";
    case TDL_JSON_NUMBER: return "a number";
    case TDL_JSON_STRING: return "a string";
    case TDL_JSON_ARRAY: return "an array";
    case TDL_JSON_OBJECT: return "an object";
    default: return "?";
    }
}
