/* Data augmentation on batches of NCHW images, in place: random horizontal
 * flips, random translations and per-channel normalisation. Random decisions
 * for sample i come from the counter-based generator at (seed, counter + i)
 * only, so a batch augments the same way whatever the thread count or the
 * batch boundaries. No memory is allocated. */
#include <math.h>
#include <string.h>

#include <tiny-dl/data.h>

#include "core/context.h"
#include "core/rng.h"

/* Stream ids of the two augmentations (distinct, so their draws are independent). */
#define FLIP_STREAM      0x666c69702d617567ull /* "flip-aug" */
#define TRANSLATE_STREAM 0x7472616e736c6174ull /* "translat" */

static int sizes_ok(int64_t n, int64_t c, int64_t h, int64_t w)
{
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return 0;
    /* the element count must fit in int64 */
    int64_t lim = INT64_MAX;
    return c <= lim / n && h <= lim / (n * c) && w <= lim / (n * c * h);
}

TDL_API tdl_status tdl_augment_flip(float *x, int64_t n, int64_t c, int64_t h, int64_t w, float p,
                                    uint64_t seed, uint64_t counter)
{
    if (!x)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_augment_flip: x is NULL");
    if (!sizes_ok(n, c, h, w))
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_augment_flip: sizes n=%lld c=%lld h=%lld w=%lld must be >= 1",
                        (long long)n, (long long)c, (long long)h, (long long)w);
    if (!(p >= 0.0f && p <= 1.0f))
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_augment_flip: probability %g is outside [0, 1]", (double)p);
    uint64_t key = tdl_rng_key(seed, FLIP_STREAM);
    int64_t rows = c * h;
    for (int64_t i = 0; i < n; ++i) {
        if (!(tdl_rng_uniform(key, counter + (uint64_t)i) < p))
            continue;
        float *img = x + i * rows * w;
        for (int64_t r = 0; r < rows; ++r) {
            float *row = img + r * w;
            for (int64_t a = 0, b = w - 1; a < b; ++a, --b) {
                float t = row[a];
                row[a] = row[b];
                row[b] = t;
            }
        }
    }
    return TDL_OK;
}

static void fill(float *y, int64_t n, float v)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = v;
}

/* One channel plane moves by (dy, dx): out[r][q] = in[r - dy][q - dx], `fill`
 * where that is outside. In place: rows are visited in the order that reads
 * every source row before it is overwritten (bottom-up when moving down), and
 * memmove shifts within a row. */
static void shift_plane(float *p, int64_t h, int64_t w, int64_t dy, int64_t dx, float value)
{
    if (dy >= h || -dy >= h || dx >= w || -dx >= w) {
        fill(p, h * w, value);
        return;
    }
    for (int64_t k = 0; k < h; ++k) {
        int64_t r = dy > 0 ? h - 1 - k : k;
        int64_t src = r - dy;
        float *dst = p + r * w;
        if (src < 0 || src >= h) {
            fill(dst, w, value);
            continue;
        }
        const float *s = p + src * w;
        if (dx >= 0) {
            memmove(dst + dx, s, sizeof(float) * (size_t)(w - dx));
            fill(dst, dx, value);
        } else {
            memmove(dst, s - dx, sizeof(float) * (size_t)(w + dx));
            fill(dst + w + dx, -dx, value);
        }
    }
}

TDL_API tdl_status tdl_augment_translate(float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                                         int32_t max_shift, float fill_value, uint64_t seed,
                                         uint64_t counter)
{
    if (!x)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_augment_translate: x is NULL");
    if (!sizes_ok(n, c, h, w))
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_augment_translate: sizes n=%lld c=%lld h=%lld w=%lld must be >= 1",
                        (long long)n, (long long)c, (long long)h, (long long)w);
    if (max_shift < 0)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_augment_translate: max_shift %d must be >= 0", (int)max_shift);
    if (max_shift == 0)
        return TDL_OK;
    uint64_t key = tdl_rng_key(seed, TRANSLATE_STREAM);
    uint64_t span = 2 * (uint64_t)max_shift + 1;
    for (int64_t i = 0; i < n; ++i) {
        /* two independent draws from the 64 bits of sample i (the modulo bias
         * of a 32-bit draw over at most 2^32 values is negligible here) */
        uint64_t bits = tdl_rng_bits(key, counter + (uint64_t)i);
        int64_t dy = (int64_t)((bits & 0xffffffffu) % span) - max_shift;
        int64_t dx = (int64_t)((bits >> 32) % span) - max_shift;
        if (dy == 0 && dx == 0)
            continue;
        float *img = x + i * c * h * w;
        for (int64_t ch = 0; ch < c; ++ch)
            shift_plane(img + ch * h * w, h, w, dy, dx, fill_value);
    }
    return TDL_OK;
}

TDL_API tdl_status tdl_normalize_channels(float *x, int64_t n, int64_t c, int64_t spatial,
                                          const float *mean, const float *std)
{
    if (!x || !mean || !std)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_normalize_channels: x, mean and std must be non-NULL");
    if (!sizes_ok(n, c, spatial, 1))
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_normalize_channels: sizes n=%lld c=%lld spatial=%lld must be >= 1",
                        (long long)n, (long long)c, (long long)spatial);
    for (int64_t k = 0; k < c; ++k)
        if (!(std[k] > 0.0f) || !isfinite(std[k]))
            return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                            "tdl_normalize_channels: std[%lld] = %g must be finite and > 0",
                            (long long)k, (double)std[k]);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < c; ++k) {
            float *p = x + (i * c + k) * spatial;
            float m = mean[k], s = std[k];
            for (int64_t j = 0; j < spatial; ++j)
                p[j] = (p[j] - m) / s;
        }
    return TDL_OK;
}
