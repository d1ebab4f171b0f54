/* Loading parameters from safetensors. Everything is checked (header, every
 * entry, the byte ranges covering the data exactly, names, dtypes, shapes)
 * before the first parameter is written, so a failed load changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiny-dl/io.h>

#include "graph/graph.h"
#include "io/io_internal.h"
#include "io/safetensors.h"

/* Longest name quoted in a message (messages are TDL_ERRMSG_MAX bytes). */
#define NAME_MAX_SHOWN 120

typedef struct st_entry {
    const char *name; /* the JSON key (may hold NULs: then it matches nothing) */
    size_t name_len;
    const char *dtype;
    size_t elem_size; /* 0: a dtype this reader does not know */
    const tdl_json *shape;
    uint64_t begin, end;
    tdl_node *param; /* the parameter it loads into, or NULL */
} st_entry;

typedef struct st_file {
    tdl_ctx *ctx;
    const char *path;
    unsigned char *bytes;
    size_t size;
    const unsigned char *data; /* the byte buffer after the header */
    uint64_t data_size;
    tdl_json header;
    int header_parsed;
    st_entry *entries;
    size_t n_entries;
} st_file;

static const struct {
    const char *name;
    size_t size;
} st_dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
};

static size_t dtype_size(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; ++i)
        if (strcmp(st_dtypes[i].name, name) == 0)
            return st_dtypes[i].size;
    return 0;
}

static int name_shown(size_t len)
{
    return (int)(len > NAME_MAX_SHOWN ? NAME_MAX_SHOWN : len);
}

/* "[2, 3]" from a JSON shape array (already validated) or from dims. */
static void shape_text_json(const tdl_json *shape, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < shape->len && n < size; ++i)
        n += (size_t)snprintf(buf + n, size - n, "%s%llu", i ? ", " : "",
                              (unsigned long long)shape->items[i].u);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

static void shape_text_dims(const int64_t *dims, int32_t ndim, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "[");
    for (int32_t i = 0; i < ndim && n < size; ++i)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

/* Checks one tensor entry's structure and byte range. */
static tdl_status check_entry(st_file *f, const tdl_json_member *m, st_entry *e, char *msg)
{
    const char *path = f->path;
    int nl = name_shown(m->key_len);
    e->name = m->key;
    e->name_len = m->key_len;
    const tdl_json *v = &m->value;
    if (v->type != TDL_JSON_OBJECT)
        return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': entry '%.*s' is %s, not an object", path, nl,
                          e->name, tdl_json_type_name(v->type));
    for (size_t i = 0; i < v->len; ++i) {
        const char *k = v->members[i].key;
        if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 && strcmp(k, "data_offsets") != 0)
            return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': tensor '%.*s' has an unknown key '%.*s'",
                              path, nl, e->name, name_shown(v->members[i].key_len), k);
    }
    const tdl_json *dt = tdl_json_get(v, "dtype");
    const tdl_json *sh = tdl_json_get(v, "shape");
    const tdl_json *off = tdl_json_get(v, "data_offsets");
    if (!dt || !sh || !off)
        return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': tensor '%.*s' has no '%s'", path, nl, e->name,
                          !dt   ? "dtype"
                          : !sh ? "shape"
                                : "data_offsets");
    if (dt->type != TDL_JSON_STRING)
        return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': tensor '%.*s': dtype is %s, not a string",
                          path, nl, e->name, tdl_json_type_name(dt->type));
    e->dtype = dt->str;
    e->elem_size = dtype_size(dt->str);
    if (sh->type != TDL_JSON_ARRAY)
        return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': tensor '%.*s': shape is %s, not an array",
                          path, nl, e->name, tdl_json_type_name(sh->type));
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < sh->len; ++i) {
        const tdl_json *d = &sh->items[i];
        if (d->type != TDL_JSON_NUMBER || !d->is_uint || d->u > (uint64_t)INT64_MAX)
            return tdl_io_msg(msg, TDL_ERR_FORMAT,
                              "'%s': tensor '%.*s': shape entry %zu is not a non-negative "
                              "integer",
                              path, nl, e->name, i);
        if (d->u != 0 && numel > UINT64_MAX / d->u)
            overflow = 1;
        else
            numel *= d->u;
    }
    if (off->type != TDL_JSON_ARRAY || off->len != 2 || off->items[0].type != TDL_JSON_NUMBER ||
        !off->items[0].is_uint || off->items[1].type != TDL_JSON_NUMBER || !off->items[1].is_uint)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s': tensor '%.*s': data_offsets is not [begin, end] with "
                          "non-negative integers",
                          path, nl, e->name);
    e->shape = sh;
    e->begin = off->items[0].u;
    e->end = off->items[1].u;
    if (e->begin > e->end)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s': tensor '%.*s': data_offsets [%llu, %llu] end before they begin",
                          path, nl, e->name, (unsigned long long)e->begin,
                          (unsigned long long)e->end);
    if (e->end > f->data_size)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s' is truncated or corrupt: tensor '%.*s' ends at byte %llu of the "
                          "data, which has %llu bytes",
                          path, nl, e->name, (unsigned long long)e->end,
                          (unsigned long long)f->data_size);
    if (e->elem_size != 0 && (overflow || numel > UINT64_MAX / e->elem_size ||
                              numel * e->elem_size != e->end - e->begin))
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s': tensor '%.*s' (%s) has %llu bytes of data, its shape needs "
                          "%s%llu",
                          path, nl, e->name, e->dtype, (unsigned long long)(e->end - e->begin),
                          overflow || numel > UINT64_MAX / e->elem_size ? "more than " : "",
                          overflow || numel > UINT64_MAX / e->elem_size
                              ? (unsigned long long)UINT64_MAX
                              : (unsigned long long)(numel * e->elem_size));
    return TDL_OK;
}

static int cmp_range(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int cmp_entry_name(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c != 0)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* The tensors must tile the data buffer: no gap, no overlap, nothing after. */
static tdl_status check_coverage(st_file *f, char *msg)
{
    const st_entry **by_range =
        tdl_calloc(f->ctx, f->n_entries ? f->n_entries : 1, sizeof *by_range);
    if (!by_range)
        return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", f->path);
    for (size_t i = 0; i < f->n_entries; ++i)
        by_range[i] = &f->entries[i];
    qsort(by_range, f->n_entries, sizeof *by_range, cmp_range);
    tdl_status st = TDL_OK;
    uint64_t expect = 0;
    for (size_t i = 0; i < f->n_entries && st == TDL_OK; ++i) {
        const st_entry *e = by_range[i];
        if (e->begin != expect)
            st = tdl_io_msg(msg, TDL_ERR_FORMAT,
                            "'%s': tensor '%.*s' starts at byte %llu of the data, expected %llu "
                            "(tensors must be contiguous and must not overlap)",
                            f->path, name_shown(e->name_len), e->name, (unsigned long long)e->begin,
                            (unsigned long long)expect);
        expect = e->end;
    }
    if (st == TDL_OK && expect != f->data_size)
        st = tdl_io_msg(msg, TDL_ERR_FORMAT,
                        "'%s': the tensors cover %llu bytes of data but the file holds %llu",
                        f->path, (unsigned long long)expect, (unsigned long long)f->data_size);
    tdl_free(f->ctx, (void *)by_range);
    return st;
}

/* Reads the file, parses the header and checks every entry. */
static tdl_status parse_file(st_file *f, char *msg)
{
    const char *path = f->path;
    tdl_status st = tdl_io_read_file(f->ctx, path, &f->bytes, &f->size, msg);
    if (st != TDL_OK)
        return st;
    if (f->size < 8)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s' is not a safetensors file: %zu bytes, less than the 8-byte "
                          "header length",
                          path, f->size);
    uint64_t n = tdl_io_load_u64_le(f->bytes);
    if (n > (uint64_t)(f->size - 8))
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s' is truncated or not a safetensors file: header length %llu but "
                          "only %zu bytes follow",
                          path, (unsigned long long)n, f->size - 8);
    if (n > TDL_ST_MAX_HEADER)
        return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': header length %llu exceeds the %d-byte limit",
                          path, (unsigned long long)n, TDL_ST_MAX_HEADER);
    char jmsg[TDL_ERRMSG_MAX];
    st = tdl_json_parse(f->ctx, (const char *)f->bytes + 8, (size_t)n, &f->header, jmsg);
    if (st == TDL_ERR_OUT_OF_MEMORY)
        return tdl_io_msg(msg, st, "out of memory reading '%s'", path);
    if (st != TDL_OK)
        return tdl_io_msg(msg, TDL_ERR_FORMAT,
                          "'%s' is corrupt or not a safetensors file: header JSON %s", path, jmsg);
    f->header_parsed = 1;
    if (f->header.type != TDL_JSON_OBJECT)
        return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': the header is %s, not an object", path,
                          tdl_json_type_name(f->header.type));
    f->data = f->bytes + 8 + n;
    f->data_size = (uint64_t)(f->size - 8 - (size_t)n);

    f->entries = tdl_calloc(f->ctx, f->header.len ? f->header.len : 1, sizeof *f->entries);
    if (!f->entries)
        return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
    for (size_t i = 0; i < f->header.len; ++i) {
        const tdl_json_member *m = &f->header.members[i];
        if (m->key_len == 12 && memcmp(m->key, "__metadata__", 12) == 0) {
            if (m->value.type != TDL_JSON_OBJECT)
                return tdl_io_msg(msg, TDL_ERR_FORMAT, "'%s': __metadata__ is %s, not an object",
                                  path, tdl_json_type_name(m->value.type));
            for (size_t k = 0; k < m->value.len; ++k)
                if (m->value.members[k].value.type != TDL_JSON_STRING)
                    return tdl_io_msg(
                        msg, TDL_ERR_FORMAT, "'%s': __metadata__ value '%.*s' is %s, not a string",
                        path, name_shown(m->value.members[k].key_len), m->value.members[k].key,
                        tdl_json_type_name(m->value.members[k].value.type));
            continue;
        }
        st = check_entry(f, m, &f->entries[f->n_entries], msg);
        if (st != TDL_OK)
            return st;
        f->n_entries++;
    }
    return check_coverage(f, msg);
}

/* Pairs parameters with entries and checks dtypes, shapes and the flags. */
static tdl_status match(st_file *f, tdl_graph *g, int32_t flags, char *msg)
{
    const char *path = f->path;
    /* Sort the entries by name, then look every parameter up. */
    qsort(f->entries, f->n_entries, sizeof *f->entries, cmp_entry_name);
    int64_t np = tdl_graph_param_count(g);
    for (int64_t i = 0; i < np; ++i) {
        tdl_node *p = tdl_graph_param(g, i);
        st_entry key = {0};
        key.name = tdl_node_name(p);
        key.name_len = strlen(key.name);
        st_entry *e = bsearch(&key, f->entries, f->n_entries, sizeof *f->entries, cmp_entry_name);
        if (!e) {
            if (flags & TDL_LOAD_ALLOW_MISSING)
                continue;
            return tdl_io_msg(msg, TDL_ERR_NOT_FOUND,
                              "parameter '%.*s' is not in '%s' (TDL_LOAD_ALLOW_MISSING keeps "
                              "its current values)",
                              name_shown(key.name_len), key.name, path);
        }
        int nl = name_shown(e->name_len);
        if (strcmp(e->dtype, "F32") != 0)
            return tdl_io_msg(msg, TDL_ERR_DTYPE,
                              "tensor '%.*s' in '%s' has dtype %.40s; tiny-dl loads only F32", nl,
                              e->name, path, e->dtype);
        int32_t ndim;
        int64_t dims[TDL_MAX_DIMS];
        if (tdl_node_shape(p, &ndim, dims) != TDL_OK || !tdl_param_data(p))
            return tdl_io_msg(msg, TDL_ERR_INTERNAL, "parameter '%.*s' is unreadable", nl, e->name);
        int same = (size_t)ndim == e->shape->len;
        for (int32_t d = 0; same && d < ndim; ++d)
            same = dims[d] >= 0 && (uint64_t)dims[d] == e->shape->items[d].u;
        if (!same) {
            char fs[96], gs[96];
            shape_text_json(e->shape, fs, sizeof fs);
            shape_text_dims(dims, ndim, gs, sizeof gs);
            return tdl_io_msg(msg, TDL_ERR_SHAPE,
                              "tensor '%.*s' in '%s' has shape %s, the graph's parameter has %s",
                              nl, e->name, path, fs, gs);
        }
        e->param = p;
    }
    if (!(flags & TDL_LOAD_ALLOW_UNUSED))
        for (size_t i = 0; i < f->n_entries; ++i)
            if (!f->entries[i].param)
                return tdl_io_msg(msg, TDL_ERR_NOT_FOUND,
                                  "tensor '%.*s' in '%s' names no parameter of the graph "
                                  "(TDL_LOAD_ALLOW_UNUSED ignores it)",
                                  name_shown(f->entries[i].name_len), f->entries[i].name, path);
    return TDL_OK;
}

TDL_API tdl_status tdl_load_weights_ex(tdl_graph *g, const char *path, int32_t flags)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_load_weights: g is NULL");
    if (!path)
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT, "tdl_load_weights: path is NULL");
    if (flags & ~(int32_t)(TDL_LOAD_ALLOW_MISSING | TDL_LOAD_ALLOW_UNUSED))
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT, "tdl_load_weights: unknown flags 0x%x",
                              (unsigned)flags);
    st_file f;
    memset(&f, 0, sizeof f);
    f.ctx = tdl_graph_ctx(g);
    f.path = path;
    char msg[TDL_ERRMSG_MAX];
    tdl_status st = parse_file(&f, msg);
    if (st == TDL_OK)
        st = match(&f, g, flags, msg);
    if (st == TDL_OK)
        for (size_t i = 0; i < f.n_entries; ++i) {
            const st_entry *e = &f.entries[i];
            if (e->param)
                tdl_io_f32_from_le(tdl_param_data(e->param), f.data + e->begin,
                                   (size_t)((e->end - e->begin) / 4));
        }
    if (f.header_parsed)
        tdl_json_free(f.ctx, &f.header);
    tdl_free(f.ctx, f.entries);
    tdl_free(f.ctx, f.bytes);
    if (st != TDL_OK)
        return tdl_graph_fail(g, st, "tdl_load_weights: %s", msg);
    return TDL_OK;
}

TDL_API tdl_status tdl_load_weights(tdl_graph *g, const char *path)
{
    return tdl_load_weights_ex(g, path, TDL_LOAD_STRICT);
}
