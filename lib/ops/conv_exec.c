/* Convolution compute: im2col / col2im around the packed GEMM (kernels.h),
 * and direct loops for depthwise convolutions.
 *
 * Work is split over images (over fixed chunks of images for the weight
 * gradient). When there are at least as many items as threads, each task
 * runs its items one after the other with single-threaded GEMMs on scratch
 * allocated beforehand on the calling thread (so no worker ever calls the
 * context's allocator, which need not be thread-safe). With fewer items than
 * threads, the items run on the calling thread and each GEMM is threaded over
 * its output blocks instead. Every output element is computed by one task, in
 * an order fixed by the shapes alone, and the GEMM's results do not depend on
 * its thread count, so any thread count gives the same bits.
 *
 * im2col is done for blocks of output rows whose buffer stays near
 * TDL_CONV_COL_FLOATS (cache-sized, and bounded for large images); the
 * weight gradient sums over images per chunk (the chunk size depends on the
 * batch and the weight size only), then adds the chunks' partial sums in
 * chunk order. */
#include <stdatomic.h>
#include <string.h>

#include "kernels/kernels.h"
#include "ops/conv_internal.h"

void tdl_conv_geom_finish(tdl_conv_geom *gm)
{
    gm->cbg = gm->cb / gm->groups;
    gm->csg = gm->cs / gm->groups;
    gm->kg = gm->cbg * gm->kh * gm->kw;
    gm->ps = gm->hs * gm->ws;
    gm->pb = gm->hb * gm->wb;
    gm->identity = gm->kh == 1 && gm->kw == 1 && gm->sh == 1 && gm->sw == 1 && gm->ph == 0 &&
                   gm->pw == 0 && gm->hs == gm->hb && gm->ws == gm->wb;
}

/* [lo, hi): outputs o in [0, n_out) with 0 <= o * s + off < len. */
static void valid_range(int64_t n_out, int64_t s, int64_t off, int64_t len, int64_t *lo,
                        int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = len - 1 - off < 0 ? 0 : (len - 1 - off) / s + 1;
    if (a > n_out)
        a = n_out;
    if (b > n_out)
        b = n_out;
    if (b < a)
        b = a;
    *lo = a;
    *hi = b;
}

/* Stride 1 with equal widths ("same" convolutions): a row of im2col is the
 * plane shifted by a constant, so each (c, ky, kx) copies one flat block; the
 * columns that wrapped around from a neighbouring row are then cleared. */
static int flat_rows(const tdl_conv_geom *gm)
{
    return gm->sw == 1 && gm->sh == 1 && gm->ws == gm->wb;
}

/* Zeroes columns [0, ox0) and [ox1, ws) of rows [r0, r1) of a [.., ws] block. */
static void clear_edges(float *row, int64_t ws, int64_t r0, int64_t r1, int64_t ox0, int64_t ox1)
{
    for (int64_t ox = 0; ox < ox0; ++ox)
        for (int64_t r = r0; r < r1; ++r)
            row[r * ws + ox] = 0.0f;
    for (int64_t ox = ox1; ox < ws; ++ox)
        for (int64_t r = r0; r < r1; ++r)
            row[r * ws + ox] = 0.0f;
}

void tdl_conv_im2col(const tdl_conv_geom *gm, const float *big, int64_t oy_a, int64_t oy_b,
                     float *col)
{
    const int64_t ws = gm->ws, wb = gm->wb, sw = gm->sw, np = (oy_b - oy_a) * ws;
    const int flat = flat_rows(gm);
    for (int64_t c = 0; c < gm->cbg; ++c) {
        const float *plane = big + c * gm->pb;
        for (int64_t ky = 0; ky < gm->kh; ++ky) {
            int64_t offy = ky * gm->dh - gm->ph, v0, v1;
            valid_range(gm->hs, gm->sh, offy, gm->hb, &v0, &v1);
            v0 = v0 > oy_a ? v0 : oy_a;
            v1 = v1 < oy_b ? v1 : oy_b;
            for (int64_t kx = 0; kx < gm->kw; ++kx) {
                int64_t offx = kx * gm->dw - gm->pw, ox0, ox1;
                valid_range(ws, sw, offx, wb, &ox0, &ox1);
                float *row = col + ((c * gm->kh + ky) * gm->kw + kx) * np;
                if (v1 <= v0 || ox1 <= ox0) {
                    memset(row, 0, sizeof(float) * (size_t)np);
                    continue;
                }
                /* block rows: [0, v0 - oy_a) zero, [.., v1 - oy_a) copied, rest zero */
                memset(row, 0, sizeof(float) * (size_t)((v0 - oy_a) * ws));
                if (flat) {
                    int64_t shift = offy * wb + offx;
                    int64_t a = v0 * ws + ox0, b = (v1 - 1) * ws + ox1;
                    memcpy(row + (a - oy_a * ws), plane + a + shift,
                           sizeof(float) * (size_t)(b - a));
                    clear_edges(row, ws, v0 - oy_a, v1 - oy_a, ox0, ox1);
                } else {
                    for (int64_t oy = v0; oy < v1; ++oy) {
                        float *dst = row + (oy - oy_a) * ws;
                        const float *src = plane + (oy * gm->sh + offy) * wb;
                        for (int64_t ox = 0; ox < ox0; ++ox)
                            dst[ox] = 0.0f;
                        if (sw == 1) {
                            for (int64_t ox = ox0; ox < ox1; ++ox)
                                dst[ox] = src[ox + offx];
                        } else {
                            for (int64_t ox = ox0; ox < ox1; ++ox)
                                dst[ox] = src[ox * sw + offx];
                        }
                        for (int64_t ox = ox1; ox < ws; ++ox)
                            dst[ox] = 0.0f;
                    }
                }
                memset(row + (v1 - oy_a) * ws, 0, sizeof(float) * (size_t)((oy_b - v1) * ws));
            }
        }
    }
}

/* With flat rows, the block of each (c, ky, kx) is added at once after
 * clearing, in col, the columns that would wrap around: they then add +0, so
 * the sums are those of the row by row loop, in the same order. */
void tdl_conv_col2im(const tdl_conv_geom *gm, float *col, int64_t oy_a, int64_t oy_b, float *big)
{
    const int64_t ws = gm->ws, wb = gm->wb, sw = gm->sw, np = (oy_b - oy_a) * ws;
    const int flat = flat_rows(gm);
    for (int64_t c = 0; c < gm->cbg; ++c) {
        float *plane = big + c * gm->pb;
        for (int64_t ky = 0; ky < gm->kh; ++ky) {
            int64_t offy = ky * gm->dh - gm->ph, v0, v1;
            valid_range(gm->hs, gm->sh, offy, gm->hb, &v0, &v1);
            v0 = v0 > oy_a ? v0 : oy_a;
            v1 = v1 < oy_b ? v1 : oy_b;
            for (int64_t kx = 0; kx < gm->kw; ++kx) {
                int64_t offx = kx * gm->dw - gm->pw, ox0, ox1;
                valid_range(ws, sw, offx, wb, &ox0, &ox1);
                float *row = col + ((c * gm->kh + ky) * gm->kw + kx) * np;
                if (v1 <= v0 || ox1 <= ox0)
                    continue;
                if (flat) {
                    clear_edges(row, ws, v0 - oy_a, v1 - oy_a, ox0, ox1);
                    int64_t shift = offy * wb + offx;
                    int64_t a = v0 * ws + ox0, b = (v1 - 1) * ws + ox1;
                    const float *src = row - oy_a * ws;
                    /* x * 1 + y rounds once, like y + x: the same bits */
                    tdlk_vaxpy(b - a, 1.0f, src + a, plane + a + shift);
                    continue;
                }
                for (int64_t oy = v0; oy < v1; ++oy) {
                    const float *srcr = row + (oy - oy_a) * ws;
                    float *dst = plane + (oy * gm->sh + offy) * wb;
                    if (sw == 1) {
                        for (int64_t ox = ox0; ox < ox1; ++ox)
                            dst[ox + offx] += srcr[ox];
                    } else {
                        for (int64_t ox = ox0; ox < ox1; ++ox)
                            dst[ox * sw + offx] += srcr[ox];
                    }
                }
            }
        }
    }
}

/* ---- scratch ---- */

/* Target size of one im2col block (floats): output rows are taken while
 * the block stays within it (at least one row). */
#define TDL_CONV_COL_FLOATS ((int64_t)1 << 18)

static size_t round16(size_t f)
{
    return (f + 15) / 16 * 16;
}

/* Output rows per im2col block (a function of the shapes only). */
static int64_t block_rows(const tdl_conv_geom *gm)
{
    if (gm->identity)
        return gm->hs;
    int64_t per_row = gm->kg * gm->ws > 0 ? gm->kg * gm->ws : 1;
    int64_t rows = TDL_CONV_COL_FLOATS / per_row;
    return rows < 1 ? 1 : rows > gm->hs ? gm->hs : rows;
}

/* An upper bound of the scratch tdlk_sgemm asks for with (m, n, k): packed
 * blocks of at most depth x rows and depth x columns, both rounded up to the
 * register tile. The GEMM blocks the depth by at most 384 (512 here), the
 * rows by 1536 (2048) and the columns by 3072 (4096), with tiles of at most
 * 64 x 64. Should it ever ask for more, the item is redone on the calling
 * thread with the context's allocator (run_items), so this only costs speed. */
static size_t gemm_floats(int64_t m, int64_t n, int64_t k)
{
    size_t kc = (size_t)(k < 512 ? k : 512);
    size_t mm = (size_t)(m < 2048 ? m : 2048) + 64, nn = (size_t)(n < 4096 ? n : 4096) + 64;
    return round16(kc * mm + kc * nn + 64);
}

/* A one-block allocator over a task's scratch, handed to the GEMM as its
 * env: the GEMM then never calls the context's allocator from a worker. */
typedef struct arena {
    float *buf;
    size_t floats;
    int used;
} arena;

static void *arena_alloc(void *user, size_t bytes)
{
    arena *a = user;
    if (a->used || bytes > a->floats * sizeof(float))
        return NULL;
    a->used = 1;
    return a->buf;
}

static void arena_release(void *user, void *ptr)
{
    arena *a = user;
    (void)ptr;
    a->used = 0;
}

enum { K_GATHER, K_SCATTER, K_WGRAD };

typedef struct conv_run {
    const tdl_conv_geom *gm;
    int kind;
    const float *big, *small, *w, *bias;
    float *out;
    int64_t rows; /* output rows per im2col block */
    /* wgrad */
    int64_t chunk;   /* images per chunk */
    int direct;      /* one input channel per group: direct loops, no GEMM (else the
                      * partials hold W^T [groups][kg][csg]) */
    float *partials; /* per chunk (see part_of) */
    /* tasks */
    int own_scratch; /* items run in tasks with single-threaded GEMMs on their own scratch */
    tdlk_env env;    /* the context's */
    float *scratch;
    size_t per_task; /* floats */
    size_t col_floats;
    int64_t grain;
    unsigned char *redo; /* items whose GEMM found its scratch too small */
    atomic_int failed;
} conv_run;

static float *part_of(const conv_run *r, int64_t chunk)
{
    size_t wsize = (size_t)(r->gm->cs * r->gm->kg);
    if (r->direct)
        return chunk == 0 ? r->out : r->partials + (size_t)(chunk - 1) * wsize;
    return r->partials + (size_t)chunk * wsize;
}

static int gather_item(const conv_run *r, int64_t n, float *col, const tdlk_env *env)
{
    const tdl_conv_geom *gm = r->gm;
    for (int64_t gi = 0; gi < gm->groups; ++gi) {
        const float *bg = r->big + (n * gm->cb + gi * gm->cbg) * gm->pb;
        const float *a = r->w + gi * gm->csg * gm->kg;
        float *c = r->out + (n * gm->cs + gi * gm->csg) * gm->ps;
        float beta = 0.0f;
        if (r->bias) {
            for (int64_t i = 0; i < gm->csg; ++i)
                tdlk_vfill(gm->ps, r->bias[gi * gm->csg + i], c + i * gm->ps);
            beta = 1.0f;
        }
        for (int64_t oy = 0; oy < gm->hs; oy += r->rows) {
            int64_t oy_b = oy + r->rows < gm->hs ? oy + r->rows : gm->hs;
            int64_t p0 = oy * gm->ws, np = (oy_b - oy) * gm->ws;
            const float *b = bg + p0;
            int64_t ldb = gm->ps;
            if (!gm->identity) {
                tdl_conv_im2col(gm, bg, oy, oy_b, col);
                b = col;
                ldb = np;
            }
            if (tdlk_sgemm(env, 0, 0, gm->csg, np, gm->kg, 1.0f, a, gm->kg, b, ldb, beta, c + p0,
                           gm->ps) != 0)
                return -1;
        }
    }
    return 0;
}

static int scatter_item(const conv_run *r, int64_t n, float *col, const tdlk_env *env)
{
    const tdl_conv_geom *gm = r->gm;
    float *bn = r->out + n * gm->cb * gm->pb;
    if (r->bias) {
        for (int64_t c = 0; c < gm->cb; ++c)
            tdlk_vfill(gm->pb, r->bias[c], bn + c * gm->pb);
    } else if (!gm->identity) {
        memset(bn, 0, sizeof(float) * (size_t)(gm->cb * gm->pb));
    }
    for (int64_t gi = 0; gi < gm->groups; ++gi) {
        const float *a = r->w + gi * gm->csg * gm->kg;
        const float *s = r->small + (n * gm->cs + gi * gm->csg) * gm->ps;
        float *bg = bn + gi * gm->cbg * gm->pb;
        for (int64_t oy = 0; oy < gm->hs; oy += r->rows) {
            int64_t oy_b = oy + r->rows < gm->hs ? oy + r->rows : gm->hs;
            int64_t p0 = oy * gm->ws, np = (oy_b - oy) * gm->ws;
            if (gm->identity) {
                if (tdlk_sgemm(env, 1, 0, gm->kg, np, gm->csg, 1.0f, a, gm->kg, s + p0, gm->ps,
                               r->bias ? 1.0f : 0.0f, bg + p0, gm->pb) != 0)
                    return -1;
                continue;
            }
            if (tdlk_sgemm(env, 1, 0, gm->kg, np, gm->csg, 1.0f, a, gm->kg, s + p0, gm->ps, 0.0f,
                           col, np) != 0)
                return -1;
            tdl_conv_col2im(gm, col, oy, oy_b, bg);
        }
    }
    return 0;
}

static int wgrad_item(const conv_run *r, int64_t chunk, float *col, const tdlk_env *env)
{
    const tdl_conv_geom *gm = r->gm;
    int64_t n0 = chunk * r->chunk, n1 = n0 + r->chunk < gm->n ? n0 + r->chunk : gm->n;
    float *dst = part_of(r, chunk);
    for (int64_t n = n0; n < n1; ++n)
        for (int64_t gi = 0; gi < gm->groups; ++gi) {
            const float *bg = r->big + (n * gm->cb + gi * gm->cbg) * gm->pb;
            const float *s = r->small + (n * gm->cs + gi * gm->csg) * gm->ps;
            for (int64_t oy = 0; oy < gm->hs; oy += r->rows) {
                int64_t oy_b = oy + r->rows < gm->hs ? oy + r->rows : gm->hs;
                int64_t p0 = oy * gm->ws, np = (oy_b - oy) * gm->ws;
                const float *b = bg + p0;
                int64_t ldb = gm->ps;
                if (!gm->identity) {
                    tdl_conv_im2col(gm, bg, oy, oy_b, col);
                    b = col;
                    ldb = np;
                }
                /* transposed (tdl_conv_weight_grad): W^T += col * dY^T */
                float beta = n == n0 && oy == 0 ? 0.0f : 1.0f;
                if (tdlk_sgemm(env, 0, 1, gm->kg, gm->csg, np, 1.0f, b, ldb, s + p0, gm->ps, beta,
                               dst + gi * gm->kg * gm->csg, gm->csg) != 0)
                    return -1;
            }
        }
    return 0;
}

/* ---- one input channel per group (depthwise), few outputs per group,
 * stride 1: a GEMM with csg rows would waste most of its register tile, so
 * direct loops over zero-padded planes. With the padded pitch wp, every tap
 * is one flat multiply-add over L = (hs - 1) * wp + ws elements (the columns
 * past ws of each row are scratch). Each output element is summed in a fixed
 * order: bias, then the taps in order. ---- */

typedef struct pad_plane {
    int64_t hp, wp; /* padded height (hs + (kh-1) dh) and pitch (ws + (kw-1) dw) */
    int64_t len;    /* (hs - 1) * wp + ws */
} pad_plane;

static pad_plane pad_dims(const tdl_conv_geom *gm)
{
    pad_plane p;
    p.hp = gm->hs + (gm->kh - 1) * gm->dh;
    p.wp = gm->ws + (gm->kw - 1) * gm->dw;
    p.len = (gm->hs - 1) * p.wp + gm->ws;
    return p;
}

/* xp = the window of a big plane that stride-1 taps read, zeros outside it. */
static void pad_copy(const tdl_conv_geom *gm, const pad_plane *p, const float *plane, float *xp)
{
    /* columns c of the window hold big column c - pw: [c0, c1) are inside */
    int64_t c0 = gm->pw < p->wp ? gm->pw : p->wp;
    int64_t c1 = gm->pw + gm->wb < p->wp ? gm->pw + gm->wb : p->wp;
    if (c1 < c0)
        c1 = c0;
    for (int64_t r = 0; r < p->hp; ++r) {
        float *dst = xp + r * p->wp;
        int64_t br = r - gm->ph;
        if (br < 0 || br >= gm->hb) {
            memset(dst, 0, sizeof(float) * (size_t)p->wp);
            continue;
        }
        memset(dst, 0, sizeof(float) * (size_t)c0);
        memcpy(dst + c0, plane + br * gm->wb + (c0 - gm->pw), sizeof(float) * (size_t)(c1 - c0));
        memset(dst + c1, 0, sizeof(float) * (size_t)(p->wp - c1));
    }
}

/* sp = a small plane at pitch wp, zeros past ws in each row. */
static void pitch_copy(const tdl_conv_geom *gm, const pad_plane *p, const float *plane, float *sp)
{
    for (int64_t r = 0; r < gm->hs; ++r) {
        float *dst = sp + r * p->wp;
        memcpy(dst, plane + r * gm->ws, sizeof(float) * (size_t)gm->ws);
        for (int64_t c = gm->ws; c < p->wp; ++c)
            dst[c] = 0.0f;
    }
}

static int64_t tap_shift(const tdl_conv_geom *gm, const pad_plane *p, int64_t k)
{
    return (k / gm->kw) * gm->dh * p->wp + (k % gm->kw) * gm->dw;
}

static void direct_gather(const conv_run *r, int64_t n, float *scratch)
{
    const tdl_conv_geom *gm = r->gm;
    const int64_t kk = gm->kh * gm->kw;
    pad_plane p = pad_dims(gm);
    float *xp = scratch, *yp = scratch + round16((size_t)(p.hp * p.wp));
    for (int64_t co = 0; co < gm->cs; ++co) {
        if (co % gm->csg == 0)
            pad_copy(gm, &p, r->big + (n * gm->cb + co / gm->csg) * gm->pb, xp);
        float b0 = r->bias ? r->bias[co] : 0.0f;
        for (int64_t i = 0; i < p.len; ++i)
            yp[i] = b0;
        for (int64_t k = 0; k < kk; ++k)
            tdlk_vaxpy(p.len, r->w[co * kk + k], xp + tap_shift(gm, &p, k), yp);
        float *y = r->out + (n * gm->cs + co) * gm->ps;
        for (int64_t oy = 0; oy < gm->hs; ++oy)
            memcpy(y + oy * gm->ws, yp + oy * p.wp, sizeof(float) * (size_t)gm->ws);
    }
}

static void direct_scatter(const conv_run *r, int64_t n, float *scratch)
{
    const tdl_conv_geom *gm = r->gm;
    const int64_t kk = gm->kh * gm->kw;
    pad_plane p = pad_dims(gm);
    float *acc = scratch, *sp = scratch + round16((size_t)(p.hp * p.wp));
    for (int64_t cb = 0; cb < gm->cb; ++cb) {
        memset(acc, 0, sizeof(float) * (size_t)(p.hp * p.wp));
        for (int64_t q = 0; q < gm->csg; ++q) {
            int64_t co = cb * gm->csg + q;
            pitch_copy(gm, &p, r->small + (n * gm->cs + co) * gm->ps, sp);
            for (int64_t k = 0; k < kk; ++k)
                tdlk_vaxpy(p.len, r->w[co * kk + k], sp, acc + tap_shift(gm, &p, k));
        }
        /* big = bias + the window's sums (zero-padding rows dropped) */
        float *plane = r->out + (n * gm->cb + cb) * gm->pb;
        float b0 = r->bias ? r->bias[cb] : 0.0f;
        for (int64_t br = 0; br < gm->hb; ++br) {
            float *dst = plane + br * gm->wb;
            int64_t rr = br + gm->ph;
            for (int64_t bc = 0; bc < gm->wb; ++bc) {
                int64_t c = bc + gm->pw;
                dst[bc] = rr < p.hp && c < p.wp ? b0 + acc[rr * p.wp + c] : b0;
            }
        }
    }
}

#define DIRECT_LANES 16

/* dw[co, k] for the images of one chunk: DIRECT_LANES running sums per
 * (co, k) (element i goes to lane i % DIRECT_LANES, images and elements in
 * order), added left to right at the end. */
static void direct_wgrad(const conv_run *r, int64_t chunk, float *scratch)
{
    const tdl_conv_geom *gm = r->gm;
    const int64_t kk = gm->kh * gm->kw;
    pad_plane p = pad_dims(gm);
    float *xp = scratch, *sp = scratch + round16((size_t)(p.hp * p.wp));
    float *lanes = sp + round16((size_t)(p.hp * p.wp));
    int64_t n0 = chunk * r->chunk, n1 = n0 + r->chunk < gm->n ? n0 + r->chunk : gm->n;
    memset(lanes, 0, sizeof(float) * (size_t)(gm->cs * kk * DIRECT_LANES));
    const int64_t full = p.len / DIRECT_LANES * DIRECT_LANES;
    for (int64_t n = n0; n < n1; ++n)
        for (int64_t co = 0; co < gm->cs; ++co) {
            if (co % gm->csg == 0)
                pad_copy(gm, &p, r->big + (n * gm->cb + co / gm->csg) * gm->pb, xp);
            pitch_copy(gm, &p, r->small + (n * gm->cs + co) * gm->ps, sp);
            for (int64_t k = 0; k < kk; ++k) {
                float *l = lanes + (co * kk + k) * DIRECT_LANES, acc[DIRECT_LANES];
                const float *xs = xp + tap_shift(gm, &p, k);
                memcpy(acc, l, sizeof acc);
                for (int64_t i = 0; i < full; i += DIRECT_LANES)
                    for (int j = 0; j < DIRECT_LANES; ++j)
                        acc[j] += sp[i + j] * xs[i + j];
                for (int64_t i = full; i < p.len; ++i)
                    acc[i - full] += sp[i] * xs[i];
                memcpy(l, acc, sizeof acc);
            }
        }
    float *dst = part_of(r, chunk);
    for (int64_t i = 0; i < gm->cs * kk; ++i) {
        const float *l = lanes + i * DIRECT_LANES;
        float sum = 0.0f;
        for (int j = 0; j < DIRECT_LANES; ++j)
            sum += l[j];
        dst[i] = sum;
    }
}

/* Scratch floats of one direct task. */
static size_t direct_floats(const tdl_conv_geom *gm, int kind)
{
    pad_plane p = pad_dims(gm);
    size_t plane = round16((size_t)(p.hp * p.wp));
    return 2 * plane +
           (kind == K_WGRAD ? round16((size_t)(gm->cs * gm->kh * gm->kw * DIRECT_LANES)) : 0);
}

static int run_one(const conv_run *r, int64_t i, float *scratch, const tdlk_env *env)
{
    if (r->direct) {
        if (r->kind == K_GATHER)
            direct_gather(r, i, scratch);
        else if (r->kind == K_SCATTER)
            direct_scatter(r, i, scratch);
        else
            direct_wgrad(r, i, scratch);
        return 0;
    }
    return r->kind == K_GATHER    ? gather_item(r, i, scratch, env)
           : r->kind == K_SCATTER ? scatter_item(r, i, scratch, env)
                                  : wgrad_item(r, i, scratch, env);
}

static void run_range(void *arg, int64_t begin, int64_t end)
{
    conv_run *r = arg;
    float *mine = r->scratch ? r->scratch + (size_t)(begin / r->grain) * r->per_task : NULL;
    arena ar = {mine ? mine + r->col_floats : NULL, r->per_task - r->col_floats, 0};
    tdlk_env local = {NULL, arena_alloc, arena_release, &ar};
    const tdlk_env *env = r->own_scratch ? &local : &r->env;
    for (int64_t i = begin; i < end; ++i)
        if (run_one(r, i, mine, env) != 0) {
            if (r->redo)
                r->redo[i] = 1;
            atomic_store(&r->failed, 1);
        }
}

/* Items per task scratch: twice the threads (some balance), fewer when the
 * scratch is large. */
#define TDL_CONV_BIG_TASK ((size_t)1 << 20)

/* Runs `items` items: in tasks with their own scratch when there are at
 * least as many items as threads, else one after the other with threaded
 * GEMMs. gemm_max: scratch bound of the largest GEMM of one item. */
static tdl_status run_items(tdl_exec *ex, tdl_node *n, conv_run *r, int64_t items, size_t gemm_max)
{
    if (items <= 0)
        return TDL_OK;
    tdl_pool *pool = ex->kenv.pool;
    int32_t threads = tdl_pool_threads(pool);
    const tdl_conv_geom *gm = r->gm;
    r->env = ex->kenv;
    r->rows = block_rows(gm);
    if (r->direct) {
        gemm_max = 0;
        r->col_floats = direct_floats(gm, r->kind);
    } else {
        r->col_floats = gm->identity ? 0 : round16((size_t)(gm->kg * r->rows * gm->ws));
    }
    r->own_scratch = !(threads > 1 && items < threads);
    int64_t tasks = 1;
    if (r->own_scratch) {
        r->per_task = r->col_floats + gemm_max;
        int64_t most = (r->per_task > TDL_CONV_BIG_TASK ? 1 : 2) * (int64_t)threads;
        tasks = items < most ? items : most;
        r->grain = (items + tasks - 1) / tasks;
        tasks = (items + r->grain - 1) / r->grain;
    } else {
        r->grain = items;
        r->per_task = r->col_floats;
    }
    r->scratch = NULL;
    r->redo = NULL;
    size_t bytes = 0;
    if (r->per_task > 0 && (tdl_mul_size(r->per_task * sizeof(float), (size_t)tasks, &bytes) != 0 ||
                            !(r->scratch = tdl_alloc_aligned(ex->ctx, bytes))))
        return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY,
                              "%s '%s': out of memory for %zu bytes of convolution scratch",
                              n->op->name, n->name, bytes);
    if (r->own_scratch && !r->direct && !(r->redo = tdl_calloc(ex->ctx, (size_t)items, 1))) {
        tdl_free_aligned(ex->ctx, r->scratch);
        return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY, "%s '%s': out of memory", n->op->name,
                              n->name);
    }
    atomic_init(&r->failed, 0);
    if (tasks > 1)
        tdl_parallel_for(pool, items, r->grain, run_range, r);
    else
        run_range(r, 0, items);
    int failed = atomic_load(&r->failed);
    if (failed && r->redo) {
        /* a GEMM wanted more scratch than planned: redo those items here,
         * with the context's allocator (same results) */
        failed = 0;
        for (int64_t i = 0; i < items && !failed; ++i)
            if (r->redo[i])
                failed = run_one(r, i, r->scratch, &r->env) != 0;
    }
    tdl_free(ex->ctx, r->redo);
    tdl_free_aligned(ex->ctx, r->scratch);
    if (failed)
        return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY,
                              "%s '%s': out of memory for GEMM scratch", n->op->name, n->name);
    return TDL_OK;
}

/* Direct loops for depthwise-like convolutions (stride 1, one input channel
 * per group, at most this many outputs per group). */
#ifndef TDL_CONV_DIRECT_MAX_CSG
#define TDL_CONV_DIRECT_MAX_CSG 2
#endif

static int use_direct(const tdl_conv_geom *gm)
{
    return gm->cbg == 1 && gm->csg <= TDL_CONV_DIRECT_MAX_CSG && gm->sh == 1 && gm->sw == 1;
}

tdl_status tdl_conv_gather(tdl_exec *ex, tdl_node *n, const tdl_conv_geom *gm, const float *big,
                           const float *w, const float *bias, float *small)
{
    conv_run r;
    memset(&r, 0, sizeof r);
    r.gm = gm;
    r.kind = K_GATHER;
    r.direct = use_direct(gm);
    r.big = big;
    r.w = w;
    r.bias = bias;
    r.out = small;
    int64_t np = block_rows(gm) * gm->ws;
    return run_items(ex, n, &r, gm->n, gemm_floats(gm->csg, np, gm->kg));
}

tdl_status tdl_conv_scatter(tdl_exec *ex, tdl_node *n, const tdl_conv_geom *gm, const float *small,
                            const float *w, const float *bias, float *big)
{
    conv_run r;
    memset(&r, 0, sizeof r);
    r.gm = gm;
    r.kind = K_SCATTER;
    r.direct = use_direct(gm);
    r.small = small;
    r.w = w;
    r.bias = bias;
    r.out = big;
    int64_t np = block_rows(gm) * gm->ws;
    return run_items(ex, n, &r, gm->n, gemm_floats(gm->kg, np, gm->csg));
}

/* Partial sums kept for the weight gradient: at most this many floats. */
#define TDL_CONV_PARTIAL_FLOATS ((int64_t)1 << 22)
/* At most this many chunks of images. */
#define TDL_CONV_MAX_CHUNKS 16

typedef struct sum_job {
    float *out;
    const float *parts;
    int64_t nparts;
    size_t wsize;
} sum_job;

static void sum_range(void *arg, int64_t begin, int64_t end)
{
    const sum_job *j = arg;
    for (int64_t p = 0; p < j->nparts; ++p) {
        const float *src = j->parts + (size_t)p * j->wsize;
        for (int64_t i = begin; i < end; ++i)
            j->out[i] += src[i];
    }
}

/* dst [cols x rows] = src [rows x cols]^T, in 16 x 16 blocks. */
static void transpose_block(int64_t rows, int64_t cols, const float *src, float *dst)
{
    for (int64_t i0 = 0; i0 < rows; i0 += 16)
        for (int64_t j0 = 0; j0 < cols; j0 += 16) {
            int64_t i1 = i0 + 16 < rows ? i0 + 16 : rows, j1 = j0 + 16 < cols ? j0 + 16 : cols;
            for (int64_t j = j0; j < j1; ++j)
                for (int64_t i = i0; i < i1; ++i)
                    dst[j * rows + i] = src[i * cols + j];
        }
}

tdl_status tdl_conv_weight_grad(tdl_exec *ex, tdl_node *n, const tdl_conv_geom *gm,
                                const float *big, const float *small, float *dw)
{
    int64_t wsize = gm->cs * gm->kg;
    if (gm->n == 0) {
        memset(dw, 0, sizeof(float) * (size_t)wsize);
        return TDL_OK;
    }
    int64_t nchunks = gm->n < TDL_CONV_MAX_CHUNKS ? gm->n : TDL_CONV_MAX_CHUNKS;
    int64_t cap = TDL_CONV_PARTIAL_FLOATS / (wsize ? wsize : 1);
    if (nchunks > cap)
        nchunks = cap > 1 ? cap : 1;
    conv_run r;
    memset(&r, 0, sizeof r);
    r.gm = gm;
    r.kind = K_WGRAD;
    r.big = big;
    r.small = small;
    r.out = dw;
    r.chunk = (gm->n + nchunks - 1) / nchunks;
    nchunks = (gm->n + r.chunk - 1) / r.chunk;
    /* The GEMM form computes the weight gradient transposed, W^T = col * dY^T:
     * it reads the im2col matrix in place (or copies it into panels) and
     * transposes only dY, which is smaller than col whenever there are fewer
     * output channels than im2col rows (measured faster on the reference
     * CNN's conv 32 -> 64, 3x3, than dY * col^T). The direct loops write W. */
    r.direct = use_direct(gm);
    int64_t nparts = r.direct ? nchunks - 1 : nchunks;
    if (nparts > 0) {
        size_t bytes;
        if (tdl_mul_size((size_t)wsize * sizeof(float), (size_t)nparts, &bytes) != 0 ||
            !(r.partials = tdl_alloc_aligned(ex->ctx, bytes)))
            return tdl_graph_fail(ex->g, TDL_ERR_OUT_OF_MEMORY,
                                  "%s '%s': out of memory for the partial sums of %lld chunks",
                                  n->op->name, n->name, (long long)nparts);
    }
    int64_t np = block_rows(gm) * gm->ws;
    size_t gmax = gemm_floats(gm->kg, gm->csg, np);
    tdl_status st = run_items(ex, n, &r, nchunks, gmax);
    if (st == TDL_OK && !r.direct) {
        /* chunk sums first, in chunk order, into the first partial (contiguous,
         * vectorised), then one transpose: dw[g][i][k] = part[g][k][i] */
        if (nchunks > 1) {
            sum_job j = {r.partials, r.partials + wsize, nchunks - 1, (size_t)wsize};
            tdl_parallel_for(ex->kenv.pool, wsize, 16384, sum_range, &j);
        }
        for (int64_t gi = 0; gi < gm->groups; ++gi)
            transpose_block(gm->kg, gm->csg, r.partials + gi * gm->kg * gm->csg,
                            dw + gi * gm->csg * gm->kg);
    } else if (st == TDL_OK && nparts > 0) {
        sum_job j = {dw, r.partials, nparts, (size_t)wsize};
        tdl_parallel_for(ex->kenv.pool, wsize, 16384, sum_range, &j);
    }
    tdl_free_aligned(ex->ctx, r.partials);
    return st;
}

typedef struct bias_job {
    const float *x;
    float *out;
    int64_t images, channels, pixels;
} bias_job;

static void bias_range(void *arg, int64_t begin, int64_t end)
{
    const bias_job *j = arg;
    for (int64_t c = begin; c < end; ++c) {
        float acc = 0.0f;
        for (int64_t n = 0; n < j->images; ++n)
            acc += tdlk_vsum(j->pixels, j->x + (n * j->channels + c) * j->pixels);
        j->out[c] = acc;
    }
}

tdl_status tdl_conv_bias_grad(tdl_exec *ex, tdl_node *n, int64_t images, int64_t channels,
                              int64_t pixels, const float *x, float *out)
{
    (void)n;
    bias_job j = {x, out, images, channels, pixels};
    int64_t work = images * pixels;
    int64_t grain = work >= 8192 ? 1 : (8192 + work - 1) / (work ? work : 1);
    tdl_parallel_for(ex->kenv.pool, channels, grain, bias_range, &j);
    return TDL_OK;
}
