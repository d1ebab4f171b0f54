/* Datasets: IDX files (plain and gzip), malformed files, the batcher, Fashion-MNIST. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tiny-dl/data.h>

#include "config.h"
#include "io/dataset.h" /* to check what an IDX dataset holds */
#include "test_util.h"

#if TDL_HAVE_ZLIB
#include <zlib.h>
#endif

typedef struct fixture {
    tdl_ctx *ctx;
    char dir[256];
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
    snprintf(f->dir, sizeof f->dir, "%s/tdl-data-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        tdl_ctx_destroy(f->ctx);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[300];
    /* Only files this test wrote are in the fresh folder. */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    tdl_ctx_destroy(f->ctx);
    free(f);
    return 0;
}

static const char *path_in(const fixture *f, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", f->dir, name);
    return buf;
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

/* An IDX file in memory: header then data. Returns its length. */
static size_t make_idx(unsigned char *buf, int type, int ndim, const uint32_t *dims,
                       const void *data, size_t data_len)
{
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)ndim;
    size_t n = 4;
    for (int i = 0; i < ndim; ++i) {
        buf[n++] = (unsigned char)(dims[i] >> 24);
        buf[n++] = (unsigned char)(dims[i] >> 16);
        buf[n++] = (unsigned char)(dims[i] >> 8);
        buf[n++] = (unsigned char)dims[i];
    }
    if (data_len)
        memcpy(buf + n, data, data_len);
    return n + data_len;
}

/* 5 images of 3 x 2 pixels (pixel value = 10 * image + position) and labels. */
enum { N_IMG = 5, IMG_H = 3, IMG_W = 2 };
static const unsigned char LABELS[N_IMG] = {3, 0, 1, 3, 2};

static size_t make_images(unsigned char *buf)
{
    unsigned char px[N_IMG * IMG_H * IMG_W];
    for (int i = 0; i < N_IMG * IMG_H * IMG_W; ++i)
        px[i] = (unsigned char)(10 * (i / (IMG_H * IMG_W)) + i % (IMG_H * IMG_W));
    px[0] = 255;
    const uint32_t dims[] = {N_IMG, IMG_H, IMG_W};
    return make_idx(buf, 0x08, 3, dims, px, sizeof px);
}

static size_t make_labels(unsigned char *buf)
{
    const uint32_t dims[] = {N_IMG};
    return make_idx(buf, 0x08, 1, dims, LABELS, sizeof LABELS);
}

static void check_small_dataset(const tdl_dataset *ds)
{
    assert_non_null(ds);
    assert_int_equal(tdl_dataset_size(ds), N_IMG);
    assert_int_equal(tdl_dataset_sample_size(ds), IMG_H * IMG_W);
    int32_t ndim = 0;
    int64_t shape[8];
    assert_int_equal(tdl_dataset_sample_shape(ds, &ndim, shape), TDL_OK);
    assert_int_equal(ndim, 2);
    assert_int_equal(shape[0], IMG_H);
    assert_int_equal(shape[1], IMG_W);
    assert_int_equal(tdl_dataset_num_classes(ds), 4);
    const float *x = tdl_dataset_x(ds);
    const int32_t *y = tdl_dataset_y(ds);
    assert_true(x[0] == 1.0f);
    for (int i = 1; i < N_IMG * IMG_H * IMG_W; ++i) {
        float want = (float)(10 * (i / (IMG_H * IMG_W)) + i % (IMG_H * IMG_W)) / 255.0f;
        assert_true(x[i] == want);
    }
    for (int i = 0; i < N_IMG; ++i)
        assert_int_equal(y[i], LABELS[i]);
}

static void test_idx_plain(void **state)
{
    fixture *f = *state;
    unsigned char buf[256];
    char ip[300], lp[300];
    write_bytes(path_in(f, "img-idx3-ubyte", ip, sizeof ip), buf, make_images(buf));
    write_bytes(path_in(f, "lab-idx1-ubyte", lp, sizeof lp), buf, make_labels(buf));
    tdl_dataset *ds = NULL;
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, lp, &ds), TDL_OK);
    check_small_dataset(ds);
    tdl_dataset_destroy(ds);
}

#if TDL_HAVE_ZLIB
static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}
#endif

static void test_idx_gzip(void **state)
{
    fixture *f = *state;
    unsigned char buf[256];
    char ip[300], lp[300];
    path_in(f, "img-idx3-ubyte.gz", ip, sizeof ip);
    path_in(f, "lab-idx1-ubyte.gz", lp, sizeof lp);
#if TDL_HAVE_ZLIB
    write_gz(ip, buf, make_images(buf));
    write_gz(lp, buf, make_labels(buf));
    tdl_dataset *ds = NULL;
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, lp, &ds), TDL_OK);
    check_small_dataset(ds);
    tdl_dataset_destroy(ds);

    /* Gzip data without the .gz suffix is recognised by its magic bytes; a
     * plain labels file next to it is read as it is. */
    char ip2[300], lp2[300];
    write_gz(path_in(f, "img-compressed", ip2, sizeof ip2), buf, make_images(buf));
    write_bytes(path_in(f, "lab-plain", lp2, sizeof lp2), buf, make_labels(buf));
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip2, lp2, &ds), TDL_OK);
    check_small_dataset(ds);
    tdl_dataset_destroy(ds);

    /* A truncated gzip stream is a format error naming the file. */
    FILE *fp = fopen(ip, "rb");
    assert_non_null(fp);
    unsigned char gzbytes[512];
    size_t gzlen = fread(gzbytes, 1, sizeof gzbytes, fp);
    fclose(fp);
    assert_true(gzlen > 20);
    char tp[300];
    path_in(f, "truncated.gz", tp, sizeof tp);
    for (size_t cut = 1; cut < gzlen; cut += 3) {
        write_bytes(tp, gzbytes, cut);
        ds = (tdl_dataset *)&ds;
        tdl_status st = tdl_dataset_load_idx(f->ctx, tp, lp, &ds);
        assert_int_equal(st, TDL_ERR_FORMAT);
        assert_null(ds);
        assert_non_null(strstr(tdl_last_error(), tp));
    }
    /* Corrupt deflate data. */
    memcpy(buf, gzbytes, gzlen);
    for (size_t i = 12; i < gzlen - 8; ++i)
        buf[i] ^= 0x5a;
    write_bytes(tp, buf, gzlen);
    assert_int_equal(tdl_dataset_load_idx(f->ctx, tp, lp, &ds), TDL_ERR_FORMAT);
    assert_non_null(strstr(tdl_last_error(), tp));
#else
    write_bytes(ip, buf, make_images(buf));
    write_bytes(lp, buf, make_labels(buf));
    tdl_dataset *ds = NULL;
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, lp, &ds), TDL_ERR_UNSUPPORTED);
    assert_non_null(strstr(tdl_last_error(), "gunzip"));
#endif
}

/* Loads (images bytes, good labels) or (good images, labels bytes) and expects
 * TDL_ERR_FORMAT with the bad file's path in the message. */
static void expect_format(fixture *f, const unsigned char *img, size_t ilen,
                          const unsigned char *lab, size_t llen, int bad_is_labels,
                          const char *fragment)
{
    char ip[300], lp[300];
    write_bytes(path_in(f, "bad-images", ip, sizeof ip), img, ilen);
    write_bytes(path_in(f, "bad-labels", lp, sizeof lp), lab, llen);
    tdl_dataset *ds = (tdl_dataset *)&ds;
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, lp, &ds), TDL_ERR_FORMAT);
    assert_null(ds);
    const char *msg = tdl_last_error();
    if (!strstr(msg, bad_is_labels ? lp : ip) || (fragment && !strstr(msg, fragment)))
        fail_msg("unexpected message: %s", msg);
    assert_string_equal(tdl_ctx_error(f->ctx), msg);
}

static void test_idx_malformed(void **state)
{
    fixture *f = *state;
    unsigned char img[256], lab[64], bad[256];
    size_t ilen = make_images(img), llen = make_labels(lab);

    /* Bad magic. */
    memcpy(bad, img, ilen);
    bad[0] = 1;
    expect_format(f, bad, ilen, lab, llen, 0, "magic");
    memcpy(bad, lab, llen);
    bad[1] = 8;
    expect_format(f, img, ilen, bad, llen, 1, "magic");
    /* Unknown type, and a non-ubyte type for images. */
    memcpy(bad, img, ilen);
    bad[2] = 0x07;
    expect_format(f, bad, ilen, lab, llen, 0, "type");
    {
        const uint32_t dims[] = {N_IMG, 1};
        float px[N_IMG] = {0};
        size_t n = make_idx(bad, 0x0D, 2, dims, px, sizeof px);
        expect_format(f, bad, n, lab, llen, 0, "unsigned bytes");
    }
    /* Wrong numbers of dimensions. */
    {
        const uint32_t dims[] = {N_IMG};
        unsigned char px[N_IMG] = {0};
        size_t n = make_idx(bad, 0x08, 1, dims, px, sizeof px);
        expect_format(f, bad, n, lab, llen, 0, "dimensions");
        n = make_idx(bad, 0x08, 0, dims, NULL, 0);
        expect_format(f, bad, n, lab, llen, 0, "0 dimensions");
        const uint32_t ldims[] = {N_IMG, 1};
        n = make_idx(bad, 0x08, 2, ldims, LABELS, sizeof LABELS);
        expect_format(f, img, ilen, bad, n, 1, "dimensions");
    }
    /* Dimensions whose product overflows, and ones larger than the file. */
    {
        const uint32_t dims[] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
        size_t n = make_idx(bad, 0x08, 3, dims, NULL, 0);
        expect_format(f, bad, n, lab, llen, 0, "overflow");
        const uint32_t big[] = {1000, 28, 28};
        n = make_idx(bad, 0x08, 3, big, img + 16, ilen - 16);
        expect_format(f, bad, n, lab, llen, 0, "truncated");
    }
    /* Truncated at every length (header or data). */
    for (size_t cut = 0; cut < ilen; ++cut)
        expect_format(f, img, cut, lab, llen, 0, NULL);
    for (size_t cut = 0; cut < llen; ++cut)
        expect_format(f, img, ilen, lab, cut, 1, NULL);
    /* Trailing bytes. */
    memcpy(bad, img, ilen);
    bad[ilen] = 0;
    expect_format(f, bad, ilen + 1, lab, llen, 0, "after");
    /* Counts of images and labels differ. */
    {
        const uint32_t dims[] = {N_IMG - 1};
        size_t n = make_idx(bad, 0x08, 1, dims, LABELS, N_IMG - 1);
        expect_format(f, img, ilen, bad, n, 1, "4 labels");
    }
    /* A zero-sized sample dimension. */
    {
        const uint32_t dims[] = {N_IMG, 0};
        size_t n = make_idx(bad, 0x08, 2, dims, NULL, 0);
        expect_format(f, bad, n, lab, llen, 0, "is 0");
    }
    /* Negative labels (signed label types are accepted otherwise). */
    {
        const uint32_t dims[] = {N_IMG};
        const unsigned char sl[N_IMG] = {1, 2, 0xFF, 0, 0};
        size_t n = make_idx(bad, 0x09, 1, dims, sl, sizeof sl);
        expect_format(f, img, ilen, bad, n, 1, "< 0");
    }
}

static void test_idx_int32_labels_and_io_errors(void **state)
{
    fixture *f = *state;
    unsigned char img[256], lab[64];
    size_t ilen = make_images(img);
    const uint32_t dims[] = {N_IMG};
    /* Big-endian int32 labels; the first is 300 (0x012c). */
    unsigned char be[4 * N_IMG];
    for (int i = 0; i < N_IMG; ++i) {
        be[4 * i] = be[4 * i + 1] = be[4 * i + 2] = 0;
        be[4 * i + 3] = LABELS[i];
    }
    be[2] = 0x01;
    be[3] = 0x2c;
    size_t llen = make_idx(lab, 0x0C, 1, dims, be, sizeof be);
    char ip[300], lp[300];
    write_bytes(path_in(f, "i", ip, sizeof ip), img, ilen);
    write_bytes(path_in(f, "l", lp, sizeof lp), lab, llen);
    tdl_dataset *ds;
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, lp, &ds), TDL_OK);
    assert_int_equal(tdl_dataset_y(ds)[0], 300);
    assert_int_equal(tdl_dataset_num_classes(ds), 301);
    tdl_dataset_destroy(ds);

    char missing[300];
    path_in(f, "does-not-exist", missing, sizeof missing);
    assert_int_equal(tdl_dataset_load_idx(f->ctx, missing, lp, &ds), TDL_ERR_IO);
    assert_non_null(strstr(tdl_last_error(), missing));
    assert_non_null(strstr(tdl_last_error(), "No such file"));
    assert_null(ds);
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, missing, &ds), TDL_ERR_IO);
    /* A folder is not readable as a file. */
    assert_int_equal(tdl_dataset_load_idx(f->ctx, f->dir, lp, &ds), TDL_ERR_IO);
    assert_non_null(strstr(tdl_last_error(), f->dir));

    assert_int_equal(tdl_dataset_load_idx(NULL, ip, lp, &ds), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_load_idx(f->ctx, NULL, lp, &ds), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, NULL, &ds), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, lp, NULL), TDL_ERR_INVALID_ARGUMENT);
}

static void test_from_arrays(void **state)
{
    fixture *f = *state;
    float x[6 * 2];
    int32_t y[6] = {0, 1, 2, 0, 1, 4};
    for (int i = 0; i < 12; ++i)
        x[i] = (float)i;
    tdl_dataset *ds;
    const int64_t shape[] = {2};
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, x, y, 6, 1, shape, &ds), TDL_OK);
    x[0] = 99.0f; /* copied: the dataset does not see this */
    y[0] = 7;
    assert_int_equal(tdl_dataset_size(ds), 6);
    assert_int_equal(tdl_dataset_sample_size(ds), 2);
    assert_int_equal(tdl_dataset_num_classes(ds), 5);
    assert_true(tdl_dataset_x(ds)[0] == 0.0f);
    assert_true(tdl_dataset_x(ds)[11] == 11.0f);
    assert_int_equal(tdl_dataset_y(ds)[0], 0);

    /* truncate keeps the first n and recounts the classes. */
    assert_int_equal(tdl_dataset_truncate(ds, 3), TDL_OK);
    assert_int_equal(tdl_dataset_size(ds), 3);
    assert_int_equal(tdl_dataset_num_classes(ds), 3);
    assert_int_equal(tdl_dataset_truncate(ds, 4), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_truncate(ds, 0), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_truncate(NULL, 1), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_truncate(ds, 3), TDL_OK);
    tdl_dataset_destroy(ds);

    /* Bad arguments. */
    const int64_t bad_shape[] = {0};
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, x, y, 6, 1, bad_shape, &ds),
                     TDL_ERR_INVALID_ARGUMENT);
    assert_null(ds);
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, x, y, 6, 0, shape, &ds),
                     TDL_ERR_INVALID_ARGUMENT);
    const int64_t shape8[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, x, y, 1, 8, shape8, &ds),
                     TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, x, y, 1, 7, shape8, &ds), TDL_OK);
    tdl_dataset_destroy(ds);
    int32_t neg[2] = {0, -1};
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, x, neg, 2, 1, shape, &ds),
                     TDL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(tdl_last_error(), "label 1"));
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, NULL, y, 2, 1, shape, &ds),
                     TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, x, NULL, 2, 1, shape, &ds),
                     TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, x, y, -1, 1, shape, &ds),
                     TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_dataset_from_arrays(NULL, x, y, 2, 1, shape, &ds),
                     TDL_ERR_INVALID_ARGUMENT);
    /* An empty dataset is allowed; it has no batches and no classes. */
    assert_int_equal(tdl_dataset_from_arrays(f->ctx, NULL, NULL, 0, 1, shape, &ds), TDL_OK);
    assert_int_equal(tdl_dataset_size(ds), 0);
    assert_int_equal(tdl_dataset_num_classes(ds), 0);
    tdl_batcher *it;
    assert_int_equal(tdl_batcher_create(ds, 4, 1, 1, &it), TDL_OK);
    assert_int_equal(tdl_batcher_num_batches(it), 0);
    const float *bx;
    const int32_t *by;
    int64_t n = -1;
    assert_int_equal(tdl_batcher_next(it, &bx, &by, &n), TDL_OK);
    assert_int_equal(n, 0);
    tdl_batcher_destroy(it);
    tdl_dataset_destroy(ds);

    /* NULL handles. */
    tdl_dataset_destroy(NULL);
    assert_int_equal(tdl_dataset_size(NULL), 0);
    assert_int_equal(tdl_dataset_sample_size(NULL), 0);
    assert_int_equal(tdl_dataset_num_classes(NULL), 0);
    assert_null(tdl_dataset_x(NULL));
    assert_null(tdl_dataset_y(NULL));
    int32_t nd;
    int64_t sh[8];
    assert_int_equal(tdl_dataset_sample_shape(NULL, &nd, sh), TDL_ERR_INVALID_ARGUMENT);
}

/* A dataset of n samples of 3 floats, sample i = (i, i + 0.25, i + 0.5), label i % 7. */
static tdl_dataset *counting_dataset(tdl_ctx *ctx, int64_t n)
{
    float *x = malloc((size_t)n * 3 * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (int64_t i = 0; i < n; ++i) {
        x[3 * i] = (float)i;
        x[3 * i + 1] = (float)i + 0.25f;
        x[3 * i + 2] = (float)i + 0.5f;
        y[i] = (int32_t)(i % 7);
    }
    tdl_dataset *ds;
    const int64_t shape[] = {3};
    assert_int_equal(tdl_dataset_from_arrays(ctx, x, y, n, 1, shape, &ds), TDL_OK);
    free(x);
    free(y);
    return ds;
}

/* Runs one epoch; writes the visited sample ids into order[] and checks batch
 * sizes and contents. Returns the number of samples visited. */
static int64_t run_epoch(tdl_batcher *it, int64_t batch, int64_t *order, int64_t cap)
{
    int64_t seen = 0, n;
    const float *x;
    const int32_t *y;
    int64_t batches = 0;
    for (;;) {
        assert_int_equal(tdl_batcher_next(it, &x, &y, &n), TDL_OK);
        if (n == 0)
            break;
        assert_true(n <= batch);
        ++batches;
        for (int64_t k = 0; k < n; ++k) {
            int64_t id = (int64_t)x[3 * k];
            assert_true(x[3 * k + 1] == (float)id + 0.25f);
            assert_true(x[3 * k + 2] == (float)id + 0.5f);
            assert_int_equal(y[k], id % 7);
            assert_true(seen < cap);
            order[seen++] = id;
        }
    }
    assert_int_equal(batches, tdl_batcher_num_batches(it));
    /* Stays at the end until reset. */
    assert_int_equal(tdl_batcher_next(it, &x, &y, &n), TDL_OK);
    assert_int_equal(n, 0);
    return seen;
}

static void check_permutation(const int64_t *order, int64_t n)
{
    char *hit = calloc((size_t)n, 1);
    assert_non_null(hit);
    for (int64_t i = 0; i < n; ++i) {
        assert_true(order[i] >= 0 && order[i] < n);
        assert_int_equal(hit[order[i]], 0);
        hit[order[i]] = 1;
    }
    free(hit);
}

static void test_batcher(void **state)
{
    fixture *f = *state;
    enum { N = 103, B = 10 };
    tdl_dataset *ds = counting_dataset(f->ctx, N);
    tdl_batcher *a, *b, *c, *plain;
    assert_int_equal(tdl_batcher_create(ds, B, 1, 42, &a), TDL_OK);
    assert_int_equal(tdl_batcher_create(ds, B, 1, 42, &b), TDL_OK);
    assert_int_equal(tdl_batcher_create(ds, B, 1, 43, &c), TDL_OK);
    assert_int_equal(tdl_batcher_create(ds, B, 0, 42, &plain), TDL_OK);
    assert_int_equal(tdl_batcher_num_batches(a), 11); /* ten of 10, the last of 3 */

    int64_t oa[N], ob[N], oc[N], oa2[N], op[N];
    assert_int_equal(run_epoch(a, B, oa, N), N);
    assert_int_equal(run_epoch(b, B, ob, N), N);
    assert_int_equal(run_epoch(c, B, oc, N), N);
    assert_int_equal(run_epoch(plain, B, op, N), N);
    check_permutation(oa, N);
    check_permutation(oc, N);
    assert_memory_equal(oa, ob, sizeof oa); /* same seed, same order */
    assert_memory_not_equal(oa, oc, sizeof oa);
    for (int64_t i = 0; i < N; ++i)
        assert_int_equal(op[i], i); /* no shuffle: in order */
    int64_t ident[N];
    for (int64_t i = 0; i < N; ++i)
        ident[i] = i;
    assert_memory_not_equal(oa, ident, sizeof oa);

    /* The next epoch is another permutation, the same for the same seed. */
    assert_int_equal(tdl_batcher_reset(a), TDL_OK);
    assert_int_equal(tdl_batcher_reset(b), TDL_OK);
    assert_int_equal(tdl_batcher_reset(plain), TDL_OK);
    assert_int_equal(run_epoch(a, B, oa2, N), N);
    check_permutation(oa2, N);
    assert_memory_not_equal(oa, oa2, sizeof oa);
    assert_int_equal(run_epoch(b, B, ob, N), N);
    assert_memory_equal(oa2, ob, sizeof oa);
    assert_int_equal(run_epoch(plain, B, op, N), N);
    for (int64_t i = 0; i < N; ++i)
        assert_int_equal(op[i], i);

    /* A fresh batcher with the same seed replays epoch 0 then epoch 1. */
    tdl_batcher *d;
    assert_int_equal(tdl_batcher_create(ds, 7, 1, 42, &d), TDL_OK);
    int64_t od[N];
    assert_int_equal(run_epoch(d, 7, od, N), N);
    assert_memory_equal(od, oa, sizeof od); /* the order does not depend on the batch size */
    tdl_batcher_destroy(d);

    /* Truncating mid-epoch: next() refuses until reset, which adapts. */
    const float *x;
    const int32_t *y;
    int64_t n;
    assert_int_equal(tdl_batcher_reset(a), TDL_OK);
    assert_int_equal(tdl_batcher_next(a, &x, &y, &n), TDL_OK);
    assert_int_equal(n, B);
    assert_int_equal(tdl_dataset_truncate(ds, 25), TDL_OK);
    assert_int_equal(tdl_batcher_next(a, &x, &y, &n), TDL_ERR_STATE);
    assert_int_equal(tdl_batcher_num_batches(a), 3);
    assert_int_equal(tdl_batcher_reset(a), TDL_OK);
    int64_t ot[25];
    assert_int_equal(run_epoch(a, B, ot, 25), 25);
    check_permutation(ot, 25);

    /* A batch larger than the dataset gives one batch of everything. */
    tdl_batcher *big;
    assert_int_equal(tdl_batcher_create(ds, 1000, 1, 5, &big), TDL_OK);
    assert_int_equal(tdl_batcher_num_batches(big), 1);
    assert_int_equal(run_epoch(big, 1000, ot, 25), 25);
    check_permutation(ot, 25);
    tdl_batcher_destroy(big);

    /* Bad arguments. */
    tdl_batcher *bad = (tdl_batcher *)&bad;
    assert_int_equal(tdl_batcher_create(ds, 0, 1, 1, &bad), TDL_ERR_INVALID_ARGUMENT);
    assert_null(bad);
    assert_int_equal(tdl_batcher_create(ds, 4, 2, 1, &bad), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_batcher_create(NULL, 4, 1, 1, &bad), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_batcher_create(ds, 4, 1, 1, NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_batcher_next(NULL, &x, &y, &n), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_batcher_next(a, NULL, &y, &n), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_batcher_reset(NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_batcher_num_batches(NULL), 0);
    tdl_batcher_destroy(NULL);

    tdl_batcher_destroy(a);
    tdl_batcher_destroy(b);
    tdl_batcher_destroy(c);
    tdl_batcher_destroy(plain);
    tdl_dataset_destroy(ds);
}

/* An IDX dataset of N_BYTES_IMG images of 4 x 7 bytes where every byte value
 * 0..255 occurs, with labels; written to (ip, lp). The pixels go to px. */
enum { N_BYTES_IMG = 37, BYTES_SS = 28 };
static void write_byte_dataset(fixture *f, char *ip, char *lp, unsigned char *px)
{
    for (int i = 0; i < N_BYTES_IMG * BYTES_SS; ++i)
        px[i] = (unsigned char)((i * 167 + i / 256) % 256);
    unsigned char lab[N_BYTES_IMG];
    for (int i = 0; i < N_BYTES_IMG; ++i)
        lab[i] = (unsigned char)(i % 5);
    static unsigned char buf[64 + N_BYTES_IMG * BYTES_SS];
    const uint32_t idims[] = {N_BYTES_IMG, 4, 7}, ldims[] = {N_BYTES_IMG};
    write_bytes(path_in(f, "bytes-idx3-ubyte", ip, 300), buf,
                make_idx(buf, 0x08, 3, idims, px, (size_t)N_BYTES_IMG * BYTES_SS));
    write_bytes(path_in(f, "bytes-idx1-ubyte", lp, 300), buf,
                make_idx(buf, 0x08, 1, ldims, lab, sizeof lab));
}

/* IDX images stay bytes in memory; the batcher and tdl_dataset_x() give the
 * very floats (byte / 255.0f, bit for bit) that a float dataset holding them
 * gives, in the same order, before and after tdl_dataset_x() converts it. */
static void test_idx_bytes_give_the_same_floats(void **state)
{
    fixture *f = *state;
    char ip[300], lp[300];
    unsigned char px[N_BYTES_IMG * BYTES_SS];
    write_byte_dataset(f, ip, lp, px);
    int seen[256] = {0};
    float ref[N_BYTES_IMG * BYTES_SS];
    int32_t yref[N_BYTES_IMG];
    for (int i = 0; i < N_BYTES_IMG * BYTES_SS; ++i) {
        ref[i] = (float)px[i] / 255.0f;
        seen[px[i]] = 1;
    }
    for (int v = 0; v < 256; ++v)
        assert_true(seen[v]);
    for (int i = 0; i < N_BYTES_IMG; ++i)
        yref[i] = i % 5;

    tdl_dataset *ds, *fl;
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, lp, &ds), TDL_OK);
    assert_int_equal(
        tdl_dataset_from_arrays(f->ctx, ref, yref, N_BYTES_IMG, 2, (const int64_t[]){4, 7}, &fl),
        TDL_OK);
    /* a byte dataset holds no floats until they are asked for */
    assert_non_null(ds->u8);
    assert_null(ds->x);
    assert_memory_equal(ds->u8, px, sizeof px);

    /* batchers made before and after the conversion by tdl_dataset_x() */
    tdl_batcher *a[2], *b[2];
    for (int shuffle = 0; shuffle <= 1; ++shuffle) {
        assert_int_equal(tdl_batcher_create(ds, 8, shuffle, 11, &a[shuffle]), TDL_OK);
        assert_int_equal(tdl_batcher_create(fl, 8, shuffle, 11, &b[shuffle]), TDL_OK);
    }
    for (int epoch = 0; epoch < 3; ++epoch) {
        if (epoch == 2) {
            /* tdl_dataset_x() turns the dataset into floats, once, and
             * releases the bytes: never both in memory */
            assert_null(ds->x); /* batches never needed it */
            const float *x = tdl_dataset_x(ds);
            assert_non_null(x);
            assert_null(ds->u8);
            assert_null(ds->u8_buf);
            assert_memory_equal(x, ref, sizeof ref);
            assert_memory_equal(x, tdl_dataset_x(fl), sizeof ref);
            assert_ptr_equal(tdl_dataset_x(ds), x);
            assert_memory_equal(tdl_dataset_y(ds), yref, sizeof yref);
        }
        for (int shuffle = 0; shuffle <= 1; ++shuffle) {
            int64_t total = 0;
            for (;;) {
                const float *xa, *xb;
                const int32_t *ya, *yb;
                int64_t na, nb;
                assert_int_equal(tdl_batcher_next(a[shuffle], &xa, &ya, &na), TDL_OK);
                assert_int_equal(tdl_batcher_next(b[shuffle], &xb, &yb, &nb), TDL_OK);
                assert_int_equal(na, nb);
                if (na == 0)
                    break;
                assert_memory_equal(xa, xb, (size_t)na * BYTES_SS * sizeof(float));
                assert_memory_equal(ya, yb, (size_t)na * sizeof(int32_t));
                total += na;
            }
            assert_int_equal(total, N_BYTES_IMG);
            assert_int_equal(tdl_batcher_reset(a[shuffle]), TDL_OK);
            assert_int_equal(tdl_batcher_reset(b[shuffle]), TDL_OK);
        }
    }
    for (int shuffle = 0; shuffle <= 1; ++shuffle) {
        tdl_batcher_destroy(a[shuffle]);
        tdl_batcher_destroy(b[shuffle]);
    }
    const float *x = tdl_dataset_x(ds);
    assert_int_equal(tdl_dataset_truncate(ds, 3), TDL_OK);
    assert_ptr_equal(tdl_dataset_x(ds), x);
    tdl_dataset_destroy(ds);

    /* made after a truncation, it covers the samples left */
    assert_int_equal(tdl_dataset_load_idx(f->ctx, ip, lp, &ds), TDL_OK);
    assert_int_equal(tdl_dataset_truncate(ds, 5), TDL_OK);
    x = tdl_dataset_x(ds);
    assert_null(ds->u8);
    assert_non_null(x);
    assert_memory_equal(x, ref, 5 * BYTES_SS * sizeof(float));
    tdl_dataset_destroy(ds);
    tdl_dataset_destroy(fl);
}

/* Loading, batching and the float copy, with each allocation failing in
 * turn: every failure is reported as out of memory and nothing leaks. */
static void test_idx_allocation_failures(void **state)
{
    fixture *f = *state;
    char ip[300], lp[300];
    unsigned char px[N_BYTES_IMG * BYTES_SS];
    write_byte_dataset(f, ip, lp, px);
    test_alloc a;
    int64_t total = -1, failures = 0;
    for (int64_t n = 0; n <= total || total < 0; ++n) {
        tdl_ctx *ctx = test_ctx_with_alloc(&a, n);
        if (!ctx) {
            assert_int_equal(a.live, 0);
            continue;
        }
        tdl_dataset *ds = NULL;
        tdl_batcher *it = NULL;
        tdl_status st = tdl_dataset_load_idx(ctx, ip, lp, &ds);
        if (st == TDL_OK)
            st = tdl_batcher_create(ds, 10, 1, 3, &it);
        const float *xb;
        const int32_t *yb;
        int64_t nb;
        if (st == TDL_OK)
            st = tdl_batcher_next(it, &xb, &yb, &nb);
        if (st == TDL_OK && !tdl_dataset_x(ds))
            st = TDL_ERR_OUT_OF_MEMORY;
        if (st == TDL_OK && !tdl_dataset_x(ds)) /* made once: no second allocation */
            fail_msg("tdl_dataset_x failed on its second call");
        if (n == 0) {
            TDL_OK_OR_FAIL(st);
            assert_int_equal(nb, 10);
        } else if (st != TDL_OK) {
            failures++;
            assert_int_equal(st, TDL_ERR_OUT_OF_MEMORY);
            if (!strstr(tdl_ctx_error(ctx), "out of memory"))
                fail_msg("allocation %lld: message '%s'", (long long)n, tdl_ctx_error(ctx));
        }
        tdl_batcher_destroy(it);
        tdl_dataset_destroy(ds);
        tdl_ctx_destroy(ctx);
        if (a.live != 0)
            fail_msg("allocation %lld failed: %lld allocations leaked", (long long)n,
                     (long long)a.live);
        if (n == 0)
            total = a.calls;
    }
    print_message("%lld allocation points, %lld surfaced as errors\n", (long long)total,
                  (long long)failures);
    assert_true(failures > 0);
}

/* The real data set, when installed (Debian package dataset-fashion-mnist). */
static void test_fashion_mnist(void **state)
{
    fixture *f = *state;
    const char *dir = getenv("TDL_FMNIST_DIR");
    if (!dir || !*dir)
        dir = "/usr/share/datasets/fashion-mnist";
    const char *split[2] = {"train", "t10k"};
    const int64_t size[2] = {60000, 10000};
    for (int s = 0; s < 2; ++s) {
        char ip[512], lp[512];
        snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, split[s]);
        snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, split[s]);
        struct stat st;
        if (stat(ip, &st) != 0 || stat(lp, &st) != 0) {
            skip();
        }
#if !TDL_HAVE_ZLIB
        skip();
#endif
        tdl_dataset *ds;
        tdl_status rc = tdl_dataset_load_idx(f->ctx, ip, lp, &ds);
        if (rc != TDL_OK)
            fail_msg("%s", tdl_last_error());
        assert_int_equal(tdl_dataset_size(ds), size[s]);
        assert_int_equal(tdl_dataset_sample_size(ds), 784);
        int32_t ndim;
        int64_t shape[8];
        assert_int_equal(tdl_dataset_sample_shape(ds, &ndim, shape), TDL_OK);
        assert_int_equal(ndim, 2);
        assert_int_equal(shape[0], 28);
        assert_int_equal(shape[1], 28);
        assert_int_equal(tdl_dataset_num_classes(ds), 10);
        int64_t count[10] = {0};
        const int32_t *y = tdl_dataset_y(ds);
        for (int64_t i = 0; i < size[s]; ++i) {
            assert_true(y[i] >= 0 && y[i] < 10);
            count[y[i]]++;
        }
        for (int c = 0; c < 10; ++c)
            assert_int_equal(count[c], size[s] / 10);
        const float *x = tdl_dataset_x(ds);
        float lo = 1.0f, hi = 0.0f;
        for (int64_t i = 0; i < size[s] * 784; ++i) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
        assert_true(lo == 0.0f && hi == 1.0f);
        tdl_dataset_destroy(ds);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idx_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_int32_labels_and_io_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_arrays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batcher, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_bytes_give_the_same_floats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_allocation_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fashion_mnist, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
