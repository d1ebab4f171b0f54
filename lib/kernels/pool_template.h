/* 2x2 / stride-2 max pooling, written once over the vector operations of
 * vec_template.h (see there) and compiled per ISA after it. A vector holds
 * VF_W windows of one output row: the de-interleaving loads split the two
 * input rows into the windows' a, b (upper row) and c, d (lower row).
 *
 * The winner of a window is decided exactly as tdlk_maxpool2x2_ref does:
 * the first maximum of a, b, c, d (a later element wins only when strictly
 * greater), unless one is NaN, where the first NaN wins. Vectors without a
 * NaN (the common case) take a shorter path through the maximum's value;
 * the others a careful one through the winner's index. Only selections are
 * made, so the results equal the reference bit for bit. */
#ifndef TDL_KERNELS_POOL_TEMPLATE_H
#define TDL_KERNELS_POOL_TEMPLATE_H

#include <string.h>

/* The first maximum's value, when no lane holds a NaN. */
static inline vf pool_max(vf a, vf b, vf c, vf d)
{
    return vf_pick_gt(vf_pick_gt(vf_pick_gt(a, b), c), d);
}

static inline int pool_any_nan(vf a, vf b, vf c, vf d)
{
    return vf_any_nan2(a, b) | vf_any_nan2(c, d);
}

/* The winner's value. */
static inline vf pool_win_value(vf a, vf b, vf c, vf d)
{
    vf m = pool_max(a, b, c, d);
    if (!pool_any_nan(a, b, c, d))
        return m;
    /* NaN: the first one, so the last override is a's */
    m = vf_select_nan(d, d, m);
    m = vf_select_nan(c, c, m);
    m = vf_select_nan(b, b, m);
    return vf_select_nan(a, a, m);
}

/* The winner's index 0..3, as a float (the careful path, NaN included). */
static inline vf pool_win_index(vf a, vf b, vf c, vf d)
{
    const vf one = vf_set1(1.0f), two = vf_set1(2.0f), three = vf_set1(3.0f);
    vf k = vf_set1(0.0f), m = a;
    k = vf_select_lt(m, b, one, k);
    m = vf_pick_gt(m, b);
    k = vf_select_lt(m, c, two, k);
    m = vf_pick_gt(m, c);
    k = vf_select_lt(m, d, three, k);
    k = vf_select_nan(d, three, k);
    k = vf_select_nan(c, two, k);
    k = vf_select_nan(b, one, k);
    return vf_select_nan(a, vf_set1(0.0f), k);
}

/* v moved to the winner of each window: *ga .. *gd (0 elsewhere). Without
 * NaNs the winner is the first element equal to the maximum m: each one that
 * matches takes v and turns m into NaN, which nothing after it equals. */
static inline void pool_route(vf a, vf b, vf c, vf d, vf v, vf *ga, vf *gb, vf *gc, vf *gd)
{
    const vf zero = vf_set1(0.0f);
    if (!pool_any_nan(a, b, c, d)) {
        const vf nan = vf_set1(NAN);
        vf m = pool_max(a, b, c, d);
        *ga = vf_select_eq(a, m, v, zero);
        m = vf_select_eq(a, m, nan, m);
        *gb = vf_select_eq(b, m, v, zero);
        m = vf_select_eq(b, m, nan, m);
        *gc = vf_select_eq(c, m, v, zero);
        m = vf_select_eq(c, m, nan, m);
        *gd = vf_select_eq(d, m, v, zero);
        return;
    }
    vf k = pool_win_index(a, b, c, d);
    *ga = vf_select_eq(k, zero, v, zero);
    *gb = vf_select_eq(k, vf_set1(1.0f), v, zero);
    *gc = vf_select_eq(k, vf_set1(2.0f), v, zero);
    *gd = vf_select_eq(k, vf_set1(3.0f), v, zero);
}

/* The value of va .. vd at each window's winner. */
static inline vf pool_pick(vf a, vf b, vf c, vf d, vf va, vf vb, vf vc, vf vd)
{
    if (!pool_any_nan(a, b, c, d)) {
        /* the first element equal to the maximum: matches applied last to first */
        vf m = pool_max(a, b, c, d);
        vf r = vf_select_eq(c, m, vc, vd);
        r = vf_select_eq(b, m, vb, r);
        return vf_select_eq(a, m, va, r);
    }
    vf k = pool_win_index(a, b, c, d);
    vf r = vf_select_eq(k, vf_set1(1.0f), vb, va);
    r = vf_select_eq(k, vf_set1(2.0f), vc, r);
    return vf_select_eq(k, vf_set1(3.0f), vd, r);
}

/* The windows ox .. ox + VF_W (or + k when k < VF_W) of the row pair r0, r1. */
static inline void pool_load(const float *r0, const float *r1, int64_t ox, int64_t k, vf *a, vf *b,
                             vf *c, vf *d)
{
    if (k >= VF_W) {
        vf_load_deint(r0 + 2 * ox, a, b);
        vf_load_deint(r1 + 2 * ox, c, d);
    } else {
        vf_load_deint_part(r0 + 2 * ox, k, a, b);
        vf_load_deint_part(r1 + 2 * ox, k, c, d);
    }
}

void TDLK_SFX(tdlk_maxpool2x2)(int64_t planes, int64_t h, int64_t w, const float *x, float *y)
{
    int64_t oh = h / 2, ow = w / 2;
    for (int64_t p = 0; p < planes; p++, x += h * w, y += oh * ow)
        for (int64_t i = 0; i < oh; i++) {
            const float *r0 = x + 2 * i * w, *r1 = r0 + w;
            float *yr = y + i * ow;
            for (int64_t ox = 0; ox < ow; ox += VF_W) {
                vf a, b, c, d;
                int64_t k = ow - ox;
                pool_load(r0, r1, ox, k, &a, &b, &c, &d);
                vf m = pool_win_value(a, b, c, d);
                if (k >= VF_W)
                    vf_store(yr + ox, m);
                else
                    vf_store_part(yr + ox, m, k);
            }
        }
}

void TDLK_SFX(tdlk_maxpool2x2_scatter)(int64_t planes, int64_t h, int64_t w, const float *x,
                                       const float *g, float *dx)
{
    int64_t oh = h / 2, ow = w / 2;
    for (int64_t p = 0; p < planes; p++, x += h * w, g += oh * ow, dx += h * w) {
        for (int64_t i = 0; i < oh; i++) {
            const float *r0 = x + 2 * i * w, *r1 = r0 + w;
            float *d0 = dx + 2 * i * w, *d1 = d0 + w;
            const float *gr = g + i * ow;
            for (int64_t ox = 0; ox < ow; ox += VF_W) {
                vf a, b, c, d;
                int64_t k = ow - ox;
                pool_load(r0, r1, ox, k, &a, &b, &c, &d);
                vf v = k >= VF_W ? vf_load(gr + ox) : vf_load_part(gr + ox, k, 0.0f);
                vf ga, gb, gc, gd;
                pool_route(a, b, c, d, v, &ga, &gb, &gc, &gd);
                if (k >= VF_W) {
                    vf_store_int(d0 + 2 * ox, ga, gb);
                    vf_store_int(d1 + 2 * ox, gc, gd);
                } else {
                    vf_store_int_part(d0 + 2 * ox, ga, gb, k);
                    vf_store_int_part(d1 + 2 * ox, gc, gd, k);
                }
            }
            if (w & 1) /* the last column takes no part */
                d0[w - 1] = d1[w - 1] = 0.0f;
        }
        if (h & 1) /* nor does the last row */
            memset(dx + (h - 1) * w, 0, sizeof(float) * (size_t)w);
    }
}

void TDLK_SFX(tdlk_maxpool2x2_gather)(int64_t planes, int64_t h, int64_t w, const float *x,
                                      const float *v, float *y)
{
    int64_t oh = h / 2, ow = w / 2;
    for (int64_t p = 0; p < planes; p++, x += h * w, v += h * w, y += oh * ow)
        for (int64_t i = 0; i < oh; i++) {
            const float *r0 = x + 2 * i * w, *r1 = r0 + w;
            const float *v0 = v + 2 * i * w, *v1 = v0 + w;
            float *yr = y + i * ow;
            for (int64_t ox = 0; ox < ow; ox += VF_W) {
                vf a, b, c, d, va, vb, vc, vd;
                int64_t k = ow - ox;
                pool_load(r0, r1, ox, k, &a, &b, &c, &d);
                pool_load(v0, v1, ox, k, &va, &vb, &vc, &vd);
                vf r = pool_pick(a, b, c, d, va, vb, vc, vd);
                if (k >= VF_W)
                    vf_store(yr + ox, r);
                else
                    vf_store_part(yr + ox, r, k);
            }
        }
}

#endif
