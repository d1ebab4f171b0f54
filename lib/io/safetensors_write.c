/* Saving parameters as safetensors: an 8-byte little-endian header length, a
 * JSON header, then each tensor's little-endian bytes, contiguous.
 *
 * Tensors are written sorted by name (byte order), both in the header and in
 * the data, so a file depends only on the parameters, not on the order a
 * graph created them; the metadata is {"format": "pt", "generator":
 * "tiny-dl <version>"} ("pt" is what PyTorch's save_file writes, and what
 * loaders such as Hugging Face transformers check for). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiny-dl/io.h>

#include "graph/graph.h"
#include "io/io_internal.h"
#include "io/safetensors.h"

typedef struct out_tensor {
    tdl_node *node;
    const char *name;
    int32_t ndim;
    int64_t shape[TDL_MAX_DIMS];
    uint64_t numel;
} out_tensor;

/* A growable text buffer; `failed` records an allocation failure. */
typedef struct text {
    tdl_ctx *ctx;
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void text_put(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (n > SIZE_MAX - t->len - 1) {
        t->failed = 1;
        return;
    }
    if (t->len + n + 1 > t->cap) {
        size_t ncap = t->cap ? t->cap : 256;
        while (ncap < t->len + n + 1)
            ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
        char *nb = tdl_realloc(t->ctx, t->buf, ncap);
        if (!nb) {
            t->failed = 1;
            return;
        }
        t->buf = nb;
        t->cap = ncap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void text_str(text *t, const char *s)
{
    text_put(t, s, strlen(s));
}

static void text_u64(text *t, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    text_put(t, tmp + i, sizeof tmp - i);
}

/* A JSON string literal. The name must be valid UTF-8 (checked earlier). */
static void text_json_string(text *t, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    text_put(t, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; ++p) {
        char esc[7];
        switch (*p) {
        case '"': text_put(t, "\\\"", 2); break;
        case '\\': text_put(t, "\\\\", 2); break;
        case '\n': text_put(t, "\\n", 2); break;
        case '\r': text_put(t, "\\r", 2); break;
        case '\t': text_put(t, "\\t", 2); break;
        case '\b': text_put(t, "\\b", 2); break;
        case '\f': text_put(t, "\\f", 2); break;
        default:
            if (*p < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                text_put(t, esc, 6);
            } else {
                text_put(t, (const char *)p, 1);
            }
        }
    }
    text_put(t, "\"", 1);
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(((const out_tensor *)a)->name, ((const out_tensor *)b)->name);
}

static tdl_status collect(tdl_graph *g, const char *path, out_tensor *ts, int64_t n, char *msg)
{
    for (int64_t i = 0; i < n; ++i) {
        out_tensor *t = &ts[i];
        t->node = tdl_graph_param(g, i);
        t->name = tdl_node_name(t->node);
        if (!t->node || !tdl_param_data(t->node) ||
            tdl_node_shape(t->node, &t->ndim, t->shape) != TDL_OK)
            return tdl_io_msg(msg, TDL_ERR_INTERNAL, "parameter %lld of the graph is unreadable",
                              (long long)i);
        if (!tdl_json_valid_utf8(t->name, strlen(t->name)))
            return tdl_io_msg(msg, TDL_ERR_INVALID_ARGUMENT,
                              "cannot write '%s': parameter name '%.200s' is not valid UTF-8", path,
                              t->name);
        if (strcmp(t->name, "__metadata__") == 0)
            return tdl_io_msg(msg, TDL_ERR_INVALID_ARGUMENT,
                              "cannot write '%s': a parameter is named '__metadata__', which "
                              "safetensors reserves",
                              path);
        t->numel = 1;
        for (int32_t d = 0; d < t->ndim; ++d) {
            if (t->shape[d] < 0)
                return tdl_io_msg(msg, TDL_ERR_INTERNAL,
                                  "parameter '%.200s' has a symbolic dimension", t->name);
            if (t->shape[d] != 0 && t->numel > UINT64_MAX / 4 / (uint64_t)t->shape[d])
                return tdl_io_msg(msg, TDL_ERR_INVALID_ARGUMENT, "parameter '%.200s' is too large",
                                  t->name);
            t->numel *= (uint64_t)t->shape[d];
        }
    }
    return TDL_OK;
}

/* Builds the header, padded with spaces so the data start 8-byte aligned. */
static tdl_status build_header(tdl_ctx *ctx, const out_tensor *ts, int64_t n, text *h,
                               const char *path, char *msg)
{
    h->ctx = ctx;
    text_str(h, "{\"__metadata__\":{\"format\":\"pt\",\"generator\":");
    char gen[64];
    snprintf(gen, sizeof gen, "tiny-dl %s", tdl_version());
    text_json_string(h, gen);
    text_str(h, "}");
    uint64_t offset = 0;
    for (int64_t i = 0; i < n; ++i) {
        const out_tensor *t = &ts[i];
        text_str(h, ",");
        text_json_string(h, t->name);
        text_str(h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int32_t d = 0; d < t->ndim; ++d) {
            if (d)
                text_str(h, ",");
            text_u64(h, (uint64_t)t->shape[d]);
        }
        text_str(h, "],\"data_offsets\":[");
        text_u64(h, offset);
        text_str(h, ",");
        if (t->numel * 4 > UINT64_MAX - offset)
            return tdl_io_msg(msg, TDL_ERR_INVALID_ARGUMENT, "cannot write '%s': too large", path);
        offset += t->numel * 4;
        text_u64(h, offset);
        text_str(h, "]}");
    }
    text_str(h, "}");
    while (!h->failed && (8 + h->len) % 8 != 0)
        text_str(h, " ");
    if (h->failed)
        return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY, "out of memory building the header of '%s'",
                          path);
    if (h->len > TDL_ST_MAX_HEADER)
        return tdl_io_msg(msg, TDL_ERR_INVALID_ARGUMENT,
                          "cannot write '%s': the header would be %zu bytes, over the %d-byte "
                          "limit of readers",
                          path, h->len, TDL_ST_MAX_HEADER);
    return TDL_OK;
}

static tdl_status write_all(tdl_ctx *ctx, const out_tensor *ts, int64_t n, const text *h,
                            const char *path, char *msg)
{
    tdl_io_writer w;
    tdl_status st = tdl_io_writer_open(&w, ctx, path, msg);
    if (st != TDL_OK)
        return st;
    unsigned char len8[8];
    tdl_io_store_u64_le(len8, (uint64_t)h->len);
    st = tdl_io_writer_write(&w, len8, 8, msg);
    if (st == TDL_OK)
        st = tdl_io_writer_write(&w, h->buf, h->len, msg);
    /* Through a small buffer, so that big-endian hosts convert on the way. */
    unsigned char chunk[16384];
    const size_t per = sizeof chunk / 4;
    for (int64_t i = 0; st == TDL_OK && i < n; ++i) {
        const float *src = tdl_param_data(ts[i].node);
        for (uint64_t k = 0; st == TDL_OK && k < ts[i].numel; k += per) {
            size_t cnt = ts[i].numel - k < per ? (size_t)(ts[i].numel - k) : per;
            tdl_io_f32_to_le(chunk, src + k, cnt);
            st = tdl_io_writer_write(&w, chunk, cnt * 4, msg);
        }
    }
    if (st == TDL_OK)
        return tdl_io_writer_commit(&w, msg);
    tdl_io_writer_abort(&w);
    return st;
}

TDL_API tdl_status tdl_save_weights(tdl_graph *g, const char *path)
{
    if (!g)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_save_weights: g is NULL");
    if (!path || !*path)
        return tdl_graph_fail(g, TDL_ERR_INVALID_ARGUMENT, "tdl_save_weights: path is %s",
                              path ? "empty" : "NULL");
    tdl_ctx *ctx = tdl_graph_ctx(g);
    char msg[TDL_ERRMSG_MAX];
    int64_t n = tdl_graph_param_count(g);
    out_tensor *ts = tdl_calloc(ctx, (size_t)(n > 0 ? n : 1), sizeof *ts);
    if (!ts)
        return tdl_graph_fail(g, TDL_ERR_OUT_OF_MEMORY,
                              "tdl_save_weights: out of memory writing '%s'", path);
    text h = {0};
    tdl_status st = collect(g, path, ts, n, msg);
    if (st == TDL_OK) {
        qsort(ts, (size_t)n, sizeof *ts, cmp_by_name);
        st = build_header(ctx, ts, n, &h, path, msg);
    }
    if (st == TDL_OK)
        st = write_all(ctx, ts, n, &h, path, msg);
    tdl_free(ctx, h.buf);
    tdl_free(ctx, ts);
    if (st != TDL_OK)
        return tdl_graph_fail(g, st, "tdl_save_weights: %s", msg);
    return TDL_OK;
}
