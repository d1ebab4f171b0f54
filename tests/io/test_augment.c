/* Data augmentation (data.h): random flips, random translations and
 * per-channel normalisation, in place on NCHW batches.
 *
 * Flip with p = 0 and p = 1 is exact; a translation with max_shift 0 is the
 * identity; every translated sample equals its input moved by some (dy, dx)
 * in [-m, m]^2 with `fill` where uncovered (found by trying every shift on
 * images whose pixels are all different), and several shifts occur; the same
 * (seed, counter + i) gives the same result for sample i whatever the batch
 * split; normalisation matches (x - mean) / std; bad arguments give
 * TDL_ERR_INVALID_ARGUMENT with the function's name in tdl_last_error(). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static float *image_batch(int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t total = n * c * h * w;
    float *x = malloc(sizeof(float) * (size_t)total);
    assert_non_null(x);
    for (int64_t i = 0; i < total; ++i)
        x[i] = (float)(i + 1); /* all different, all > 0 */
    return x;
}

static void check_error(tdl_status st, const char *fn)
{
    assert_int_equal(st, TDL_ERR_INVALID_ARGUMENT);
    const char *msg = tdl_last_error();
    if (!strstr(msg, fn))
        fail_msg("message \"%s\" does not name %s", msg, fn);
}

static void test_flip(void **state)
{
    (void)state;
    const int64_t n = 3, c = 2, h = 3, w = 5, total = n * c * h * w;
    float *x = image_batch(n, c, h, w), *orig = image_batch(n, c, h, w);
    /* p = 0: unchanged */
    assert_int_equal(tdl_augment_flip(x, n, c, h, w, 0.0f, 1, 0), TDL_OK);
    assert_memory_equal(x, orig, sizeof(float) * (size_t)total);
    /* p = 1: every row reversed */
    assert_int_equal(tdl_augment_flip(x, n, c, h, w, 1.0f, 1, 0), TDL_OK);
    for (int64_t r = 0; r < n * c * h; ++r)
        for (int64_t q = 0; q < w; ++q)
            assert_true(x[r * w + q] == orig[r * w + (w - 1 - q)]);
    /* twice: back to the start */
    assert_int_equal(tdl_augment_flip(x, n, c, h, w, 1.0f, 9, 4), TDL_OK);
    assert_memory_equal(x, orig, sizeof(float) * (size_t)total);
    /* odd and even widths, width 1 */
    float one[4] = {1, 2, 3, 4};
    assert_int_equal(tdl_augment_flip(one, 1, 1, 4, 1, 1.0f, 0, 0), TDL_OK);
    assert_true(one[0] == 1 && one[3] == 4);
    assert_int_equal(tdl_augment_flip(one, 1, 1, 1, 4, 1.0f, 0, 0), TDL_OK);
    assert_true(one[0] == 4 && one[1] == 3 && one[2] == 2 && one[3] == 1);
    free(x);
    free(orig);
}

/* p = 0.5: about half the samples flip; the choice depends on (seed, counter + i). */
static void test_flip_random(void **state)
{
    (void)state;
    const int64_t n = 400, w = 2;
    float *x = malloc(sizeof(float) * (size_t)(n * w));
    for (int64_t i = 0; i < n; ++i) {
        x[2 * i] = 0;
        x[2 * i + 1] = 1;
    }
    assert_int_equal(tdl_augment_flip(x, n, 1, 1, w, 0.5f, 42, 1000), TDL_OK);
    int flipped = 0;
    for (int64_t i = 0; i < n; ++i)
        flipped += x[2 * i] == 1;
    assert_true(flipped > 150 && flipped < 250); /* mean 200, sd 10 */
    /* the same draws when the batch is split in two (counter + i) */
    float *y = malloc(sizeof(float) * (size_t)(n * w));
    for (int64_t i = 0; i < n; ++i) {
        y[2 * i] = 0;
        y[2 * i + 1] = 1;
    }
    assert_int_equal(tdl_augment_flip(y, 150, 1, 1, w, 0.5f, 42, 1000), TDL_OK);
    assert_int_equal(tdl_augment_flip(y + 300, n - 150, 1, 1, w, 0.5f, 42, 1150), TDL_OK);
    assert_memory_equal(x, y, sizeof(float) * (size_t)(n * w));
    /* another seed: different choices */
    for (int64_t i = 0; i < n; ++i) {
        y[2 * i] = 0;
        y[2 * i + 1] = 1;
    }
    assert_int_equal(tdl_augment_flip(y, n, 1, 1, w, 0.5f, 43, 1000), TDL_OK);
    assert_true(memcmp(x, y, sizeof(float) * (size_t)(n * w)) != 0);
    free(x);
    free(y);
}

/* 1 when `out` (one image c x h x w) is `in` moved by (dy, dx) with `fill`. */
static int is_shift(const float *in, const float *out, int64_t c, int64_t h, int64_t w, int64_t dy,
                    int64_t dx, float fill)
{
    for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t r = 0; r < h; ++r)
            for (int64_t q = 0; q < w; ++q) {
                int64_t sr = r - dy, sq = q - dx;
                float want =
                    (sr >= 0 && sr < h && sq >= 0 && sq < w) ? in[(ch * h + sr) * w + sq] : fill;
                if (out[(ch * h + r) * w + q] != want)
                    return 0;
            }
    return 1;
}

static void test_translate(void **state)
{
    (void)state;
    const int64_t n = 60, c = 2, h = 5, w = 6, img = c * h * w, total = n * img;
    float *x = image_batch(n, c, h, w), *orig = image_batch(n, c, h, w);
    /* max_shift 0: identity */
    assert_int_equal(tdl_augment_translate(x, n, c, h, w, 0, -1.0f, 3, 0), TDL_OK);
    assert_memory_equal(x, orig, sizeof(float) * (size_t)total);
    for (int32_t m = 1; m <= 3; ++m) {
        memcpy(x, orig, sizeof(float) * (size_t)total);
        assert_int_equal(tdl_augment_translate(x, n, c, h, w, m, -1.0f, 3, 77), TDL_OK);
        int seen[7][7];
        memset(seen, 0, sizeof seen);
        for (int64_t i = 0; i < n; ++i) {
            int found = 0;
            for (int64_t dy = -m; dy <= m && !found; ++dy)
                for (int64_t dx = -m; dx <= m && !found; ++dx)
                    if (is_shift(orig + i * img, x + i * img, c, h, w, dy, dx, -1.0f)) {
                        found = 1;
                        seen[dy + m][dx + m] = 1;
                    }
            if (!found)
                fail_msg("max_shift %d: sample %lld is not a shift of its input", (int)m,
                         (long long)i);
        }
        int kinds = 0;
        for (int a = 0; a < 7; ++a)
            for (int b = 0; b < 7; ++b)
                kinds += seen[a][b];
        /* (2m+1)^2 shifts over 60 samples: most of them occur */
        assert_true(kinds >= (m == 1 ? 7 : 12));
    }
    /* known shifts on a tiny image: a shift larger than the image fills it all */
    float t[6] = {1, 2, 3, 4, 5, 6};
    int all_fill = 0, any_moved = 0;
    for (uint64_t k = 0; k < 200; ++k) {
        float u[6];
        memcpy(u, t, sizeof u);
        assert_int_equal(tdl_augment_translate(u, 1, 1, 2, 3, 3, 0.5f, 11, k), TDL_OK);
        int ok = 0;
        for (int dy = -3; dy <= 3 && !ok; ++dy)
            for (int dx = -3; dx <= 3 && !ok; ++dx)
                ok = is_shift(t, u, 1, 2, 3, dy, dx, 0.5f);
        assert_true(ok);
        int fills = 0;
        for (int j = 0; j < 6; ++j)
            fills += u[j] == 0.5f;
        all_fill += fills == 6;
        any_moved += memcmp(u, t, sizeof u) != 0;
    }
    assert_true(all_fill > 0 && any_moved > 100);
    free(x);
    free(orig);
}

static void test_translate_deterministic(void **state)
{
    (void)state;
    const int64_t n = 20, c = 3, h = 7, w = 4, img = c * h * w;
    float *a = image_batch(n, c, h, w), *b = image_batch(n, c, h, w);
    assert_int_equal(tdl_augment_translate(a, n, c, h, w, 2, 0.0f, 5, 100), TDL_OK);
    /* sample by sample, with counter + i */
    for (int64_t i = 0; i < n; ++i)
        assert_int_equal(tdl_augment_translate(b + i * img, 1, c, h, w, 2, 0.0f, 5, 100 + i),
                         TDL_OK);
    assert_memory_equal(a, b, sizeof(float) * (size_t)(n * img));
    /* another counter: different shifts somewhere */
    float *d = image_batch(n, c, h, w);
    assert_int_equal(tdl_augment_translate(d, n, c, h, w, 2, 0.0f, 5, 101), TDL_OK);
    assert_true(memcmp(a, d, sizeof(float) * (size_t)(n * img)) != 0);
    free(a);
    free(b);
    free(d);
}

static void test_normalize(void **state)
{
    (void)state;
    const int64_t n = 2, c = 3, sp = 4;
    float x[24];
    test_fill_uniform(x, 24, -2, 2, 3);
    float orig[24];
    memcpy(orig, x, sizeof x);
    const float mean[3] = {0.5f, -0.25f, 0.0f}, std[3] = {2.0f, 0.5f, 1.5f};
    assert_int_equal(tdl_normalize_channels(x, n, c, sp, mean, std), TDL_OK);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < c; ++k)
            for (int64_t j = 0; j < sp; ++j) {
                int64_t o = (i * c + k) * sp + j;
                float want = (orig[o] - mean[k]) / std[k];
                if (x[o] != want)
                    fail_msg("normalize [%lld]: %g, expected %g", (long long)o, (double)x[o],
                             (double)want);
            }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    float x[16] = {0};
    const float mean[2] = {0, 0}, std[2] = {1, 1}, bad_std[2] = {1, 0}, inf_std[2] = {INFINITY, 1};
    check_error(tdl_augment_flip(NULL, 1, 1, 4, 4, 0.5f, 0, 0), "tdl_augment_flip");
    check_error(tdl_augment_flip(x, 0, 1, 4, 4, 0.5f, 0, 0), "tdl_augment_flip");
    check_error(tdl_augment_flip(x, 1, 1, -4, 4, 0.5f, 0, 0), "tdl_augment_flip");
    check_error(tdl_augment_flip(x, 1, 1, 4, 4, 1.5f, 0, 0), "tdl_augment_flip");
    check_error(tdl_augment_flip(x, 1, 1, 4, 4, -0.1f, 0, 0), "tdl_augment_flip");
    check_error(tdl_augment_flip(x, 1, 1, 4, 4, NAN, 0, 0), "tdl_augment_flip");
    check_error(tdl_augment_translate(NULL, 1, 1, 4, 4, 1, 0, 0, 0), "tdl_augment_translate");
    check_error(tdl_augment_translate(x, 1, 0, 4, 4, 1, 0, 0, 0), "tdl_augment_translate");
    check_error(tdl_augment_translate(x, 1, 1, 4, 4, -1, 0, 0, 0), "tdl_augment_translate");
    check_error(tdl_normalize_channels(NULL, 1, 2, 8, mean, std), "tdl_normalize_channels");
    check_error(tdl_normalize_channels(x, 1, 2, 8, NULL, std), "tdl_normalize_channels");
    check_error(tdl_normalize_channels(x, 1, 2, 8, mean, NULL), "tdl_normalize_channels");
    check_error(tdl_normalize_channels(x, 1, 2, 0, mean, std), "tdl_normalize_channels");
    check_error(tdl_normalize_channels(x, 1, 2, 8, mean, bad_std), "tdl_normalize_channels");
    check_error(tdl_normalize_channels(x, 1, 2, 8, mean, inf_std), "tdl_normalize_channels");
    /* nothing was written */
    for (int i = 0; i < 16; ++i)
        assert_true(x[i] == 0.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flip),      cmocka_unit_test(test_flip_random),
        cmocka_unit_test(test_translate), cmocka_unit_test(test_translate_deterministic),
        cmocka_unit_test(test_normalize), cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
