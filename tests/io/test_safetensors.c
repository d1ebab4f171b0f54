/* Weights in safetensors: round trips, hand-written files in PyTorch's layout,
 * truncated and corrupt files, dtype/shape/name checks, i/o errors,
 * atomicity and allocation failures. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tiny-dl/tiny-dl.h>

#include "io/json.h"

/* ---- fixture: a temporary folder and a context ------------------------- */

typedef struct fixture {
    tdl_ctx *ctx;
    char dir[256];
    char path[300]; /* dir/w.safetensors */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (tdl_ctx_create(&f->ctx) != TDL_OK) {
        fprintf(stderr, "%s\n", tdl_last_error());
        free(f);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/tdl-st-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        tdl_ctx_destroy(f->ctx);
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/w.safetensors", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    tdl_ctx_destroy(f->ctx);
    free(f);
    return 0;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    /* A new file each time: rewriting a truncated one makes some file
     * systems flush it on close, which is slow over thousands of cases. */
    unlink(path);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

/* 1 when a file whose name contains ".tmp-" is left in dir. */
static int temp_left(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-"))
            found = 1;
    closedir(d);
    return found;
}

/* ---- graphs -------------------------------------------------------------- */

/* Names that need JSON escaping (quote, backslash, control characters) and
 * non-ASCII UTF-8. */
static const char WEIRD[] = "we\"ird\\name\n\t\x01/\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80";

static tdl_graph *build_graph(tdl_ctx *ctx, uint64_t seed)
{
    tdl_ctx_set_seed(ctx, seed);
    tdl_graph *g;
    assert_int_equal(tdl_graph_create(ctx, &g), TDL_OK);
    tdl_param(g, "fc1.weight", 2, (int64_t[]){4, 3}, TDL_INIT_NORMAL, 0.0f, 1.0f);
    tdl_param(g, "fc1.bias", 1, (int64_t[]){4}, TDL_INIT_NORMAL, 0.0f, 1.0f);
    tdl_param(g, "scalar", 0, NULL, TDL_INIT_NORMAL, 0.0f, 1.0f);
    tdl_param(g, WEIRD, 2, (int64_t[]){2, 2}, TDL_INIT_NORMAL, 0.0f, 1.0f);
    tdl_param(g, "conv.w", 4, (int64_t[]){2, 1, 3, 3}, TDL_INIT_NORMAL, 0.0f, 1.0f);
    if (tdl_graph_status(g) != TDL_OK)
        fail_msg("building the graph: %s", tdl_graph_error(g));
    return g;
}

static size_t param_floats(tdl_graph *g)
{
    return (size_t)tdl_graph_param_elements(g);
}

/* All parameter values, in creation order (malloc'd). */
static float *snapshot(tdl_graph *g)
{
    size_t total = param_floats(g), k = 0;
    float *s = malloc((total ? total : 1) * sizeof *s);
    assert_non_null(s);
    for (int64_t i = 0; i < tdl_graph_param_count(g); ++i) {
        tdl_node *p = tdl_graph_param(g, i);
        int32_t nd;
        int64_t dims[TDL_MAX_DIMS];
        tdl_node_shape(p, &nd, dims);
        size_t n = 1;
        for (int32_t d = 0; d < nd; ++d)
            n *= (size_t)dims[d];
        memcpy(s + k, tdl_param_data(p), n * sizeof(float));
        k += n;
    }
    return s;
}

static void fill_params(tdl_graph *g, unsigned char byte)
{
    for (int64_t i = 0; i < tdl_graph_param_count(g); ++i) {
        tdl_node *p = tdl_graph_param(g, i);
        int32_t nd;
        int64_t dims[TDL_MAX_DIMS];
        tdl_node_shape(p, &nd, dims);
        size_t n = 1;
        for (int32_t d = 0; d < nd; ++d)
            n *= (size_t)dims[d];
        memset(tdl_param_data(p), byte, n * sizeof(float));
    }
}

static void assert_params_equal(tdl_graph *g, const float *snap)
{
    float *now = snapshot(g);
    assert_memory_equal(now, snap, param_floats(g) * sizeof(float));
    free(now);
}

/* A graph with "weight" [2, 3] and "bias" [2], filled with a sentinel. */
static tdl_graph *small_graph(tdl_ctx *ctx)
{
    tdl_graph *g;
    assert_int_equal(tdl_graph_create(ctx, &g), TDL_OK);
    assert_non_null(tdl_param(g, "weight", 2, (int64_t[]){2, 3}, TDL_INIT_ZEROS, 0, 0));
    assert_non_null(tdl_param(g, "bias", 1, (int64_t[]){2}, TDL_INIT_ZEROS, 0, 0));
    fill_params(g, 0x7f);
    return g;
}

/* ---- hand-written files ---------------------------------------------------- */

/* Writes 8-byte length + header (padded with spaces to `pad` alignment of the
 * data start when pad > 0) + data. */
static void write_st(const char *path, const char *header, size_t pad, const void *data,
                     size_t data_len)
{
    size_t hl = strlen(header);
    size_t padded = hl;
    while (pad && (8 + padded) % pad)
        ++padded;
    unsigned char *b = malloc(8 + padded + data_len + 1);
    assert_non_null(b);
    for (int i = 0; i < 8; ++i)
        b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    if (data_len)
        memcpy(b + 8 + padded, data, data_len);
    write_bytes(path, b, 8 + padded + data_len);
    free(b);
}

/* Little-endian float32 bytes, spelled out so the test does not depend on the host. */
#define F_1   0x00, 0x00, 0x80, 0x3f /* 1.0 */
#define F_2   0x00, 0x00, 0x00, 0x40 /* 2.0 */
#define F_M15 0x00, 0x00, 0xc0, 0xbf /* -1.5 */
#define F_05  0x00, 0x00, 0x00, 0x3f /* 0.5 */
#define F_3   0x00, 0x00, 0x40, 0x40 /* 3.0 */
#define F_025 0x00, 0x00, 0x80, 0x3e /* 0.25 */
#define F_M2  0x00, 0x00, 0x00, 0xc0 /* -2.0 */
#define F_10  0x00, 0x00, 0x20, 0x41 /* 10.0 */

static const float WEIGHT[6] = {1.0f, 2.0f, -1.5f, 0.5f, 3.0f, 0.25f};
static const float BIAS[2] = {-2.0f, 10.0f};

static void assert_small_loaded(tdl_graph *g)
{
    tdl_node *w = tdl_graph_find(g, "weight"), *b = tdl_graph_find(g, "bias");
    assert_memory_equal(tdl_param_data(w), WEIGHT, sizeof WEIGHT);
    assert_memory_equal(tdl_param_data(b), BIAS, sizeof BIAS);
}

static void expect_load_error(fixture *f, tdl_graph *g, int32_t flags, tdl_status want,
                              const char *frag1, const char *frag2)
{
    float *before = snapshot(g);
    tdl_status st = tdl_load_weights_ex(g, f->path, flags);
    const char *msg = tdl_graph_error(g);
    if (st != want)
        fail_msg("status %d, wanted %d: %s", (int)st, (int)want, msg);
    if (!strstr(msg, f->path) || (frag1 && !strstr(msg, frag1)) || (frag2 && !strstr(msg, frag2)))
        fail_msg("unexpected message: %s", msg);
    assert_string_equal(tdl_last_error(), msg);
    assert_params_equal(g, before);
    free(before);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_round_trip(void **state)
{
    fixture *f = *state;
    tdl_graph *g = build_graph(f->ctx, 1);
    float *saved = snapshot(g);
    if (tdl_save_weights(g, f->path) != TDL_OK)
        fail_msg("%s", tdl_graph_error(g));
    assert_false(temp_left(f->dir));

    /* The header: aligned, valid JSON, sorted names, escaped names decode back. */
    size_t len;
    unsigned char *b = read_bytes(f->path, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | b[i];
    assert_int_equal((8 + n) % 8, 0);
    char msg[512];
    tdl_json h;
    assert_int_equal(tdl_json_parse(f->ctx, (const char *)b + 8, (size_t)n, &h, msg), TDL_OK);
    assert_int_equal(h.type, TDL_JSON_OBJECT);
    assert_int_equal(h.len, 6);
    assert_string_equal(h.members[0].key, "__metadata__");
    const tdl_json *fmt = tdl_json_get(&h.members[0].value, "format");
    assert_non_null(fmt);
    assert_string_equal(fmt->str, "pt");
    const tdl_json *gen = tdl_json_get(&h.members[0].value, "generator");
    assert_non_null(gen);
    assert_non_null(strstr(gen->str, "tiny-dl"));
    const char *order[] = {"conv.w", "fc1.bias", "fc1.weight", "scalar", WEIRD};
    uint64_t off = 0;
    for (int i = 0; i < 5; ++i) {
        assert_string_equal(h.members[i + 1].key, order[i]);
        const tdl_json *e = &h.members[i + 1].value;
        assert_string_equal(tdl_json_get(e, "dtype")->str, "F32");
        const tdl_json *o = tdl_json_get(e, "data_offsets");
        assert_int_equal(o->items[0].u, off);
        off = o->items[1].u;
    }
    assert_int_equal(8 + n + off, len);
    assert_int_equal(tdl_json_get(&h.members[4].value, "shape")->len, 0); /* scalar: [] */
    tdl_json_free(f->ctx, &h);

    /* Perturb, load, compare bit for bit. */
    fill_params(g, 0xab);
    if (tdl_load_weights(g, f->path) != TDL_OK)
        fail_msg("%s", tdl_graph_error(g));
    assert_params_equal(g, saved);

    /* A second graph built the same way (other initial values) loads them too. */
    tdl_ctx *ctx2;
    assert_int_equal(tdl_ctx_create(&ctx2), TDL_OK);
    tdl_graph *g2 = build_graph(ctx2, 2);
    float *other = snapshot(g2);
    assert_memory_not_equal(other, saved, param_floats(g2) * sizeof(float));
    assert_int_equal(tdl_load_weights(g2, f->path), TDL_OK);
    assert_params_equal(g2, saved);

    /* Saving the same values over the existing file gives the same bytes. */
    assert_int_equal(tdl_save_weights(g2, f->path), TDL_OK);
    size_t len2;
    unsigned char *b2 = read_bytes(f->path, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(b2, b, len);
    free(b);
    free(b2);

    free(other);
    free(saved);
    tdl_graph_destroy(g2);
    tdl_ctx_destroy(ctx2);
    tdl_graph_destroy(g);
}

/* Special float values survive the trip: NaN payloads, infinities, -0, subnormals. */
static void test_round_trip_special_values(void **state)
{
    fixture *f = *state;
    tdl_graph *g;
    assert_int_equal(tdl_graph_create(f->ctx, &g), TDL_OK);
    tdl_node *p = tdl_param(g, "v", 1, (int64_t[]){6}, TDL_INIT_ZEROS, 0, 0);
    assert_non_null(p);
    const uint32_t bits[6] = {0x7fc00001u, 0xff800000u, 0x7f800000u,
                              0x80000000u, 0x00000001u, 0x3f7fffffu};
    memcpy(tdl_param_data(p), bits, sizeof bits);
    assert_int_equal(tdl_save_weights(g, f->path), TDL_OK);
    memset(tdl_param_data(p), 0, sizeof bits);
    assert_int_equal(tdl_load_weights(g, f->path), TDL_OK);
    assert_memory_equal(tdl_param_data(p), bits, sizeof bits);
    tdl_graph_destroy(g);
}

/* An empty graph writes a valid file with only metadata. */
static void test_empty_graph(void **state)
{
    fixture *f = *state;
    tdl_graph *g;
    assert_int_equal(tdl_graph_create(f->ctx, &g), TDL_OK);
    assert_int_equal(tdl_save_weights(g, f->path), TDL_OK);
    assert_int_equal(tdl_load_weights(g, f->path), TDL_OK);
    tdl_graph_destroy(g);
}

/* The exact bytes safetensors.torch.save_file writes for
 * {"bias": tensor([-2., 10.]), "weight": tensor([[1, 2, -1.5], [.5, 3, .25]])}:
 * compact JSON, __metadata__ {"format": "pt"} first, names sorted, the header
 * padded with spaces to a multiple of 8, data little-endian and contiguous. */
static void test_pytorch_layout(void **state)
{
    fixture *f = *state;
    static const char header[] =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}";
    static const unsigned char data[] = {F_M2, F_10, F_1, F_2, F_M15, F_05, F_3, F_025};
    /* Assemble it byte by byte: length 152 (149 bytes of JSON + 3 spaces). */
    unsigned char file[8 + 152 + 32];
    assert_int_equal(strlen(header), 149);
    const unsigned char len8[8] = {152, 0, 0, 0, 0, 0, 0, 0};
    memcpy(file, len8, 8);
    memcpy(file + 8, header, 149);
    memset(file + 8 + 149, ' ', 3);
    memcpy(file + 8 + 152, data, 32);
    write_bytes(f->path, file, sizeof file);

    tdl_graph *g = small_graph(f->ctx);
    if (tdl_load_weights(g, f->path) != TDL_OK)
        fail_msg("%s", tdl_graph_error(g));
    assert_small_loaded(g);

    /* Older writers did not pad (odd header length, unaligned data), and other
     * writers order keys and data freely, with whitespace. */
    fill_params(g, 0x7f);
    static const char loose[] =
        "{\n  \"weight\": {\"data_offsets\": [0, 24], \"shape\": [2, 3], \"dtype\": \"F32\"},\n"
        "  \"bias\": {\"shape\": [2], \"dtype\": \"F32\", \"data_offsets\": [24, 32]}\n}";
    static const unsigned char data2[] = {F_1, F_2, F_M15, F_05, F_3, F_025, F_M2, F_10};
    write_st(f->path, loose, 0, data2, sizeof data2);
    if (tdl_load_weights(g, f->path) != TDL_OK)
        fail_msg("%s", tdl_graph_error(g));
    assert_small_loaded(g);

    /* Other dtypes in the file: a U8 tensor shifts the F32 data off alignment;
     * an I64 step counter is not a parameter. */
    fill_params(g, 0x7f);
    static const char mixed[] =
        "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"\\u00e9\"},"
        "\"mask\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
        "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[3,27]},"
        "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[27,35]},"
        "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[35,43]},"
        "\"future\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[43,45]}}";
    static const unsigned char data3[] = {1, 0, 1, F_1, F_2, F_M15, F_05, F_3, F_025, F_M2, F_10,
                                          7, 0, 0, 0,   0,   0,     0,    0,   0x12,  0x34};
    write_st(f->path, mixed, 8, data3, sizeof data3);
    /* Unused tensors are reported in name order: "future" comes first. */
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_NOT_FOUND, "'future'", NULL);
    if (tdl_load_weights_ex(g, f->path, TDL_LOAD_ALLOW_UNUSED) != TDL_OK)
        fail_msg("%s", tdl_graph_error(g));
    assert_small_loaded(g);
    tdl_graph_destroy(g);
}

static void test_truncated(void **state)
{
    fixture *f = *state;
    tdl_graph *g = build_graph(f->ctx, 3);
    assert_int_equal(tdl_save_weights(g, f->path), TDL_OK);
    size_t len;
    unsigned char *full = read_bytes(f->path, &len);
    fill_params(g, 0x5c);
    for (size_t cut = 0; cut < len; ++cut) {
        write_bytes(f->path, full, cut);
        expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_FORMAT, NULL, NULL);
        /* Lenient flags do not make a truncated file loadable. */
        if (cut % 7 == 0)
            expect_load_error(f, g, TDL_LOAD_ALLOW_MISSING | TDL_LOAD_ALLOW_UNUSED, TDL_ERR_FORMAT,
                              NULL, NULL);
    }
    /* Trailing bytes after the data are rejected too. */
    unsigned char *longer = malloc(len + 4);
    assert_non_null(longer);
    memcpy(longer, full, len);
    memset(longer + len, 0, 4);
    write_bytes(f->path, longer, len + 4);
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_FORMAT, "cover", NULL);
    free(longer);
    free(full);
    tdl_graph_destroy(g);
}

static void test_corrupt_header(void **state)
{
    fixture *f = *state;
    tdl_graph *g = build_graph(f->ctx, 4);
    float *saved = snapshot(g);
    assert_int_equal(tdl_save_weights(g, f->path), TDL_OK);
    size_t len;
    unsigned char *full = read_bytes(f->path, &len);
    size_t hlen = (size_t)full[0] | ((size_t)full[1] << 8);
    unsigned char *bad = malloc(len);
    assert_non_null(bad);

    /* The length field. */
    const uint64_t lengths[] = {0,         1,          hlen - 1,
                                hlen + 1,  hlen + 8,   (uint64_t)len,
                                100000001, UINT64_MAX, (uint64_t)1 << 63};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; ++i) {
        memcpy(bad, full, len);
        for (int k = 0; k < 8; ++k)
            bad[k] = (unsigned char)(lengths[i] >> (8 * k));
        write_bytes(f->path, bad, len);
        fill_params(g, 0x33);
        expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_FORMAT, NULL, NULL);
    }

    /* Every header byte replaced by a few troublemakers: the load either fails
     * leaving the parameters alone, or succeeds with exactly the saved values. */
    const unsigned char repl[] = {0x00, 0xff, '"', '{', '}', '[', ',', '9', 'x', '\\', 0x80};
    int failures = 0;
    for (size_t pos = 8; pos < 8 + hlen; ++pos) {
        for (size_t r = 0; r < sizeof repl; ++r) {
            if (full[pos] == repl[r])
                continue;
            memcpy(bad, full, len);
            bad[pos] = repl[r];
            write_bytes(f->path, bad, len);
            fill_params(g, 0x33);
            float *before = snapshot(g);
            tdl_status st = tdl_load_weights(g, f->path);
            if (st == TDL_OK) {
                assert_params_equal(g, saved);
            } else {
                ++failures;
                assert_true(st == TDL_ERR_FORMAT || st == TDL_ERR_NOT_FOUND ||
                            st == TDL_ERR_SHAPE || st == TDL_ERR_DTYPE);
                assert_non_null(strstr(tdl_graph_error(g), f->path));
                assert_params_equal(g, before);
            }
            free(before);
        }
    }
    assert_true(failures > (int)hlen);
    free(bad);
    free(full);
    free(saved);
    tdl_graph_destroy(g);
}

static void test_bad_files(void **state)
{
    fixture *f = *state;
    tdl_graph *g = small_graph(f->ctx);
    static const unsigned char data[] = {F_M2, F_10, F_1, F_2, F_M15, F_05, F_3, F_025};
    static const struct {
        const char *header;
        const char *fragment;
    } cases[] = {
        {"[]", "not an object"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},}",
         "JSON"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"bias\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "duplicate"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[4,28]}}",
         "contiguous"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[12,36]}}",
         NULL},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,28]}}",
         "shape needs"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "end before"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "data_offsets"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "shape entry 0"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "shape entry 0"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],"
         "\"data_offsets\":[8,32]}}",
         "shape needs more than"},
        {"{\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "unknown key"},
        {"{\"bias\":{\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "no 'dtype'"},
        {"{\"bias\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "not a string"},
        {"{\"bias\":[],"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "not an object"},
        {"{\"__metadata__\":{\"format\":1},"
         "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "__metadata__"},
        {"{\"__metadata__\":[],"
         "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "__metadata__"},
        {"{\"b\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}",
         "UTF-8"},
        {"", "JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        write_st(f->path, cases[i].header, 8, data, sizeof data);
        float *before = snapshot(g);
        tdl_status st = tdl_load_weights(g, f->path);
        if (st != TDL_ERR_FORMAT || !strstr(tdl_graph_error(g), f->path) ||
            (cases[i].fragment && !strstr(tdl_graph_error(g), cases[i].fragment)))
            fail_msg("case %zu: status %d: %s", i, (int)st, tdl_graph_error(g));
        assert_params_equal(g, before);
        free(before);
    }
    tdl_graph_destroy(g);
}

static void test_dtype_and_shape(void **state)
{
    fixture *f = *state;
    tdl_graph *g = small_graph(f->ctx);
    static const unsigned char data[] = {F_1, F_2, F_M15, F_05, F_3, F_025, 0, 0x3c, 0, 0x40};
    write_st(f->path,
             "{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"bias\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]}}",
             8, data, 28);
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_DTYPE, "'bias'", "F16");
    /* Unknown dtypes are reported as such too. */
    write_st(f->path,
             "{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"bias\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[24,28]}}",
             8, data, 28);
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_DTYPE, "'bias'", "Q4");

    static const unsigned char data2[] = {F_1, F_2, F_M15, F_05, F_3, F_025, F_M2, F_10};
    write_st(f->path,
             "{\"weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
             "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}",
             8, data2, sizeof data2);
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_SHAPE, "'weight' in",
                      "[3, 2], the graph's "
                      "parameter has [2, 3]");
    write_st(f->path,
             "{\"weight\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
             "\"bias\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[24,32]}}",
             8, data2, sizeof data2);
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_SHAPE, NULL, "[6]");
    /* Lenient flags do not relax dtype or shape. */
    expect_load_error(f, g, TDL_LOAD_ALLOW_MISSING | TDL_LOAD_ALLOW_UNUSED, TDL_ERR_SHAPE, NULL,
                      NULL);
    tdl_graph_destroy(g);
}

static void test_missing_and_unused(void **state)
{
    fixture *f = *state;
    tdl_graph *g = small_graph(f->ctx);
    float sentinel[2];
    memcpy(sentinel, tdl_param_data(tdl_graph_find(g, "bias")), sizeof sentinel);
    static const unsigned char data[] = {F_1, F_2, F_M15, F_05, F_3, F_025, F_M2, F_10};

    /* Only "weight": bias is missing. */
    write_st(f->path, "{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 8,
             data, 24);
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_NOT_FOUND, "parameter 'bias'", NULL);
    expect_load_error(f, g, TDL_LOAD_ALLOW_UNUSED, TDL_ERR_NOT_FOUND, "'bias'", NULL);
    assert_int_equal(tdl_load_weights_ex(g, f->path, TDL_LOAD_ALLOW_MISSING), TDL_OK);
    assert_memory_equal(tdl_param_data(tdl_graph_find(g, "weight")), WEIGHT, sizeof WEIGHT);
    assert_memory_equal(tdl_param_data(tdl_graph_find(g, "bias")), sentinel, sizeof sentinel);

    /* An extra tensor. */
    fill_params(g, 0x7f);
    static const unsigned char data3[] = {F_1, F_2, F_M15, F_05, F_3, F_025, F_M2, F_10, F_3};
    write_st(f->path,
             "{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
             "\"head.extra\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[32,36]}}",
             8, data3, sizeof data3);
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_NOT_FOUND, "'head.extra'", NULL);
    expect_load_error(f, g, TDL_LOAD_ALLOW_MISSING, TDL_ERR_NOT_FOUND, "'head.extra'", NULL);
    assert_int_equal(tdl_load_weights_ex(g, f->path, TDL_LOAD_ALLOW_UNUSED), TDL_OK);
    assert_small_loaded(g);

    /* Both at once. */
    fill_params(g, 0x7f);
    static const unsigned char data4[] = {F_1, F_2, F_M15, F_05, F_3, F_025, F_3};
    write_st(f->path,
             "{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"other\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]}}",
             8, data4, sizeof data4);
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_NOT_FOUND, NULL, NULL);
    expect_load_error(f, g, TDL_LOAD_ALLOW_MISSING, TDL_ERR_NOT_FOUND, "'other'", NULL);
    expect_load_error(f, g, TDL_LOAD_ALLOW_UNUSED, TDL_ERR_NOT_FOUND, "'bias'", NULL);
    assert_int_equal(
        tdl_load_weights_ex(g, f->path, TDL_LOAD_ALLOW_MISSING | TDL_LOAD_ALLOW_UNUSED), TDL_OK);
    assert_memory_equal(tdl_param_data(tdl_graph_find(g, "weight")), WEIGHT, sizeof WEIGHT);

    /* A tensor whose name holds a NUL (escaped) matches no parameter. */
    write_st(f->path,
             "{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"bias\\u0000\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}",
             8, data, sizeof data);
    expect_load_error(f, g, TDL_LOAD_STRICT, TDL_ERR_NOT_FOUND, "parameter 'bias'", NULL);

    /* Bad arguments. */
    assert_int_equal(tdl_load_weights_ex(g, f->path, 4), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_load_weights_ex(g, f->path, -1), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_load_weights(g, NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_load_weights(NULL, f->path), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_save_weights(NULL, f->path), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_save_weights(g, NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_save_weights(g, ""), TDL_ERR_INVALID_ARGUMENT);
    tdl_graph_destroy(g);
}

static void test_bad_names_on_save(void **state)
{
    fixture *f = *state;
    tdl_graph *g;
    assert_int_equal(tdl_graph_create(f->ctx, &g), TDL_OK);
    assert_non_null(tdl_param(g, "__metadata__", 1, (int64_t[]){1}, TDL_INIT_ZEROS, 0, 0));
    assert_int_equal(tdl_save_weights(g, f->path), TDL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(tdl_graph_error(g), "__metadata__"));
    tdl_graph_destroy(g);
    assert_int_equal(tdl_graph_create(f->ctx, &g), TDL_OK);
    assert_non_null(tdl_param(g, "bad\xff", 1, (int64_t[]){1}, TDL_INIT_ZEROS, 0, 0));
    assert_int_equal(tdl_save_weights(g, f->path), TDL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(tdl_graph_error(g), "UTF-8"));
    tdl_graph_destroy(g);
    assert_false(temp_left(f->dir));
    struct stat st;
    assert_int_not_equal(stat(f->path, &st), 0);
}

static void test_io_errors(void **state)
{
    fixture *f = *state;
    tdl_graph *g = build_graph(f->ctx, 5);
    float *vals = snapshot(g);

    /* Missing file. */
    char missing[320];
    snprintf(missing, sizeof missing, "%s/missing.safetensors", f->dir);
    assert_int_equal(tdl_load_weights(g, missing), TDL_ERR_IO);
    assert_non_null(strstr(tdl_graph_error(g), missing));
    assert_non_null(strstr(tdl_graph_error(g), "No such file"));
    assert_params_equal(g, vals);
    /* A folder. */
    assert_int_equal(tdl_load_weights(g, f->dir), TDL_ERR_IO);

    /* A folder that does not exist. */
    char nodir[320];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/w.safetensors", f->dir);
    assert_int_equal(tdl_save_weights(g, nodir), TDL_ERR_IO);
    assert_non_null(strstr(tdl_graph_error(g), nodir));
    assert_non_null(strstr(tdl_graph_error(g), "No such file"));

    /* The destination is a folder: the rename fails and the temporary file goes. */
    char sub[320];
    snprintf(sub, sizeof sub, "%s/sub", f->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    char inner[340];
    snprintf(inner, sizeof inner, "%s/x", sub);
    write_bytes(inner, "x", 1);
    assert_int_equal(tdl_save_weights(g, sub), TDL_ERR_IO);
    assert_non_null(strstr(tdl_graph_error(g), sub));
    assert_false(temp_left(f->dir));
    assert_false(temp_left(sub));

    /* A write that fails half-way (file size limit): the existing file stays
     * as it was, and no temporary file is left. */
    static const char old[] = "previous contents";
    write_bytes(f->path, old, sizeof old);
    struct rlimit saved_limit, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    small = saved_limit;
    small.rlim_cur = 100;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    tdl_status st = tdl_save_weights(g, f->path);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    signal(SIGXFSZ, saved_handler);
    assert_int_equal(st, TDL_ERR_IO);
    assert_non_null(strstr(tdl_graph_error(g), f->path));
    assert_false(temp_left(f->dir));
    size_t len;
    unsigned char *now = read_bytes(f->path, &len);
    assert_int_equal(len, sizeof old);
    assert_memory_equal(now, old, sizeof old);
    free(now);

    /* And the same save succeeds without the limit. */
    assert_int_equal(tdl_save_weights(g, f->path), TDL_OK);
    assert_false(temp_left(f->dir));
    free(vals);
    tdl_graph_destroy(g);
}

/* ---- allocation failures ----------------------------------------------------- */

typedef struct counting {
    long live;      /* blocks allocated and not freed */
    long countdown; /* allocations until the one that fails; < 0: none fails */
} counting;

static void *c_malloc(size_t n, void *user)
{
    counting *c = user;
    if (c->countdown >= 0 && c->countdown-- == 0)
        return NULL;
    void *p = malloc(n);
    if (p)
        c->live++;
    return p;
}

static void *c_realloc(void *ptr, size_t n, void *user)
{
    counting *c = user;
    if (c->countdown >= 0 && c->countdown-- == 0)
        return NULL;
    void *p = realloc(ptr, n);
    if (p && !ptr)
        c->live++;
    return p;
}

static void c_free(void *ptr, void *user)
{
    counting *c = user;
    if (ptr) {
        c->live--;
        free(ptr);
    }
}

static void test_allocation_failures(void **state)
{
    fixture *f = *state;
    counting c = {0, -1};
    tdl_ctx *ctx;
    assert_int_equal(tdl_ctx_create_with_allocator(&ctx, c_malloc, c_realloc, c_free, &c), TDL_OK);
    tdl_graph *g = build_graph(ctx, 6);
    float *saved = snapshot(g);

    /* Save: fail allocation N for N = 0, 1, ... until a save succeeds. */
    static const char old[] = "old";
    int n;
    for (n = 0; n < 1000; ++n) {
        write_bytes(f->path, old, sizeof old);
        long live = c.live;
        c.countdown = n;
        tdl_status st = tdl_save_weights(g, f->path);
        int hit = c.countdown < 0; /* the failing allocation happened */
        c.countdown = -1;
        assert_int_equal(c.live, live);
        assert_false(temp_left(f->dir));
        if (st == TDL_OK) {
            /* Past the last allocation (best-effort ones may fail silently). */
            if (!hit)
                break;
            continue;
        }
        assert_int_equal(st, TDL_ERR_OUT_OF_MEMORY);
        assert_non_null(strstr(tdl_graph_error(g), "out of memory"));
        size_t len;
        unsigned char *now = read_bytes(f->path, &len);
        assert_int_equal(len, sizeof old);
        free(now);
    }
    assert_true(n > 2 && n < 1000);

    /* Load: the same, and the parameters are untouched on every failure. */
    assert_int_equal(tdl_save_weights(g, f->path), TDL_OK);
    for (n = 0; n < 10000; ++n) {
        fill_params(g, 0x44);
        float *before = snapshot(g);
        long live = c.live;
        c.countdown = n;
        tdl_status st = tdl_load_weights(g, f->path);
        int hit = c.countdown < 0;
        c.countdown = -1;
        assert_int_equal(c.live, live);
        if (st == TDL_OK) {
            assert_false(hit);
            assert_params_equal(g, saved);
            free(before);
            break;
        }
        assert_int_equal(st, TDL_ERR_OUT_OF_MEMORY);
        assert_params_equal(g, before);
        free(before);
    }
    assert_true(n > 2 && n < 10000);

    free(saved);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
    assert_int_equal(c.live, 0);
}

/* ---- the JSON parser ----------------------------------------------------------- */

static void test_json(void **state)
{
    fixture *f = *state;
    static const char *good[] = {
        "{}",
        "[]",
        " {\"a\" : [1, 2.5e3, -0.5, true, false, null, \"x\"]} ",
        "0",
        "\"\"",
        "{\"\\ud83d\\ude00\":\"\\u00e9\\n\\\"\\\\\\/\\b\\f\\r\\t\"}",
        "[[[[[]]]]]",
        "18446744073709551615",
        "{\"a\":{},\"b\":{}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; ++i) {
        tdl_json v;
        char msg[512];
        if (tdl_json_parse(f->ctx, good[i], strlen(good[i]), &v, msg) != TDL_OK)
            fail_msg("'%s': %s", good[i], msg);
        tdl_json_free(f->ctx, &v);
    }
    static const char *bad[] = {
        "",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "1.",
        "-",
        "1e",
        "+1",
        "NaN",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "\"abc",
        "\"\\x\"",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "tru",
        "nul",
        "[] []",
        "{\"a\":1,\"a\":2}",
        "\"\x01\"",
        "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "// c\n{}",
        "'a'",
        "\"\\u12G4\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        tdl_json v;
        char msg[512];
        if (tdl_json_parse(f->ctx, bad[i], strlen(bad[i]), &v, msg) != TDL_ERR_FORMAT)
            fail_msg("accepted '%s'", bad[i]);
        assert_non_null(strstr(msg, "at byte"));
    }
    /* Deep nesting is refused, not a stack overflow. */
    char deep[2001];
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    deep[2000] = 0;
    tdl_json v;
    char msg[512];
    assert_int_equal(tdl_json_parse(f->ctx, deep, 2000, &v, msg), TDL_ERR_FORMAT);

    /* Values decode. */
    static const char doc[] = "{\"k\\u0000\":[7,18446744073709551616,-1,2e0],\"s\":\"\\u00e9\"}";
    assert_int_equal(tdl_json_parse(f->ctx, doc, strlen(doc), &v, msg), TDL_OK);
    assert_int_equal(v.members[0].key_len, 2);
    assert_int_equal(v.members[0].key[1], 0);
    const tdl_json *a = &v.members[0].value;
    assert_true(a->items[0].is_uint && a->items[0].u == 7);
    assert_false(a->items[1].is_uint); /* 2^64 does not fit */
    assert_false(a->items[2].is_uint);
    assert_false(a->items[3].is_uint);
    assert_string_equal(tdl_json_get(&v, "s")->str, "\xc3\xa9");
    assert_null(tdl_json_get(&v, "k"));
    tdl_json_free(f->ctx, &v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_special_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_graph, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pytorch_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtype_and_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_unused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_on_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocation_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
