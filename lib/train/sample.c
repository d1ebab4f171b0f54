/* Sampling a token from logits: temperature, top-k, a counter-based random
 * stream (core/rng.h), no allocation and no state. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tiny-dl/rnn.h>

#include "core/context.h"
#include "core/rng.h"

/* Up to this k, the k largest values are tracked in a sorted array on the
 * stack; above it, the k-th largest value is found by bisection on the
 * order-preserving integer image of the floats. */
#define SAMPLE_SMALL_K 256

/* Maps floats to unsigned integers with the same order (no NaN here). */
static uint32_t order_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static float from_order_key(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The k-th largest of x (1 <= k <= n), counting repeats. */
static float kth_largest(const float *x, int64_t n, int64_t k)
{
    if (k <= SAMPLE_SMALL_K) {
        float top[SAMPLE_SMALL_K]; /* descending */
        int64_t m = 0;
        for (int64_t i = 0; i < n; ++i) {
            float v = x[i];
            if (m == k && !(v > top[m - 1]))
                continue;
            int64_t p = m < k ? m++ : k - 1;
            while (p > 0 && top[p - 1] < v) {
                top[p] = top[p - 1];
                --p;
            }
            top[p] = v;
        }
        return top[k - 1];
    }
    /* largest key t with count(x >= t) >= k */
    uint32_t lo = 0, hi = 0xffffffffu;
    while (lo < hi) {
        uint32_t mid = lo + (uint32_t)(((uint64_t)hi - lo + 1) / 2);
        int64_t c = 0;
        for (int64_t i = 0; i < n; ++i)
            c += order_key(x[i]) >= mid;
        if (c >= k)
            lo = mid;
        else
            hi = mid - 1;
    }
    return from_order_key(lo);
}

TDL_API tdl_status tdl_sample_logits(const float *logits, int64_t n, float temperature,
                                     int32_t top_k, uint64_t seed, uint64_t counter,
                                     int32_t *out_id)
{
    if (!logits || !out_id)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_sample_logits: logits and out_id must be non-NULL");
    if (n < 1 || n > INT32_MAX)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_sample_logits: n = %lld must be in 1..2^31-1", (long long)n);
    if (!(temperature >= 0.0f) || isinf(temperature))
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_sample_logits: temperature %g must be finite and >= 0",
                        (double)temperature);
    if (top_k < 0)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_sample_logits: top_k %d must be >= 0", (int)top_k);
    int64_t best = -1;
    for (int64_t i = 0; i < n; ++i) {
        float v = logits[i];
        if (isnan(v) || v == INFINITY)
            return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                            "tdl_sample_logits: logit %lld is %g (NaN and +inf are not allowed)",
                            (long long)i, (double)v);
        if (v != -INFINITY && (best < 0 || v > logits[best]))
            best = i;
    }
    if (best < 0)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_sample_logits: every logit is -inf");
    if (temperature == 0.0f || top_k == 1) {
        *out_id = (int32_t)best;
        return TDL_OK;
    }
    /* candidates: x > thr, and the first `ties` with x == thr (index order) */
    int64_t k = top_k == 0 || top_k >= n ? n : top_k;
    float thr = -INFINITY;
    int64_t ties = n;
    if (k < n) {
        thr = kth_largest(logits, n, k);
        int64_t above = 0;
        for (int64_t i = 0; i < n; ++i)
            above += logits[i] > thr;
        ties = k - above;
    }
    double mx = logits[best], inv_t = 1.0 / (double)temperature, total = 0.0;
    int64_t taken = 0;
    for (int64_t i = 0; i < n; ++i) {
        float v = logits[i];
        if (v == -INFINITY || v < thr || (v == thr && taken++ >= ties))
            continue;
        total += exp(((double)v - mx) * inv_t);
    }
    uint64_t key = tdl_rng_key(seed, 0x73616d706c65ull /* "sample" */);
    double u = (double)(tdl_rng_bits(key, counter) >> 11) * (1.0 / 9007199254740992.0);
    double target = u * total, acc = 0.0;
    int64_t pick = best;
    taken = 0;
    for (int64_t i = 0; i < n; ++i) {
        float v = logits[i];
        if (v == -INFINITY || v < thr || (v == thr && taken++ >= ties))
            continue;
        double p = exp(((double)v - mx) * inv_t);
        acc += p;
        if (p > 0.0)
            pick = i;
        if (acc > target)
            break;
    }
    *out_id = (int32_t)pick;
    return TDL_OK;
}
