/* Elementwise binary ops with NumPy broadcasting: add, sub, mul, div; plus the
 * scalar affine map, scale-by-count (mean's 1/N) and the equality mask. */
#include <math.h>
#include <string.h>

#include <tiny-dl/ops.h>

#include "ops/broadcast.h"
#include "ops/op.h"

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_EQ };

typedef struct binary_job {
    int kind;
    const float *a, *b;
    float *y;
    tdl_bcast bc;
    int64_t row_len;
} binary_job;

#define BINARY_LOOP(EXPR)                                                                          \
    do {                                                                                           \
        if (sa == 1 && sb == 1)                                                                    \
            for (int64_t i = 0; i < n; ++i) {                                                      \
                float x = a[i], z = b[i];                                                          \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        else if (sa == 1 && sb == 0) {                                                             \
            float z = b[0];                                                                        \
            for (int64_t i = 0; i < n; ++i) {                                                      \
                float x = a[i];                                                                    \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sa == 0 && sb == 1) {                                                           \
            float x = a[0];                                                                        \
            for (int64_t i = 0; i < n; ++i) {                                                      \
                float z = b[i];                                                                    \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else                                                                                     \
            for (int64_t i = 0; i < n; ++i) {                                                      \
                float x = a[i * sa], z = b[i * sb];                                                \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
    } while (0)

static void binary_row(int kind, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                       float *y)
{
    /* the forms broadcasting produces (same shape, or one side a single
     * value along the row) go to the vector kernel; it is exact, so the
     * results do not depend on the path */
    if (kind != BIN_EQ && (sa == 0 || sa == 1) && (sb == 0 || sb == 1)) {
        static const int kop[4] = {TDLK_ADD, TDLK_SUB, TDLK_MUL, TDLK_DIV};
        tdlk_vbinary(kop[kind], n, a, sa, b, sb, y);
        return;
    }
    switch (kind) {
    case BIN_ADD: BINARY_LOOP(x + z); break;
    case BIN_SUB: BINARY_LOOP(x - z); break;
    case BIN_MUL: BINARY_LOOP(x * z); break;
    case BIN_DIV: BINARY_LOOP(x / z); break;
    case BIN_EQ: BINARY_LOOP(x == z ? 1.0f : 0.0f); break;
    }
}

static void binary_rows(void *arg, int64_t begin, int64_t end)
{
    binary_job *job = arg;
    const tdl_bcast *bc = &job->bc;
    int64_t inner = bc->dims[bc->nd - 1];
    if (bc->nd == 1) { /* one long row, chunked by elements */
        binary_row(job->kind, end - begin, job->a + begin * bc->sa[0], bc->sa[0],
                   job->b + begin * bc->sb[0], bc->sb[0], job->y + begin);
        return;
    }
    for (int64_t r = begin; r < end; ++r) {
        int64_t oa, ob;
        tdl_bcast_row(bc, r, &oa, &ob);
        binary_row(job->kind, inner, job->a + oa, bc->sa[bc->nd - 1], job->b + ob,
                   bc->sb[bc->nd - 1], job->y + r * inner);
    }
}

static tdl_status binary_run(tdl_exec *ex, tdl_node *n, int kind)
{
    binary_job job;
    job.kind = kind;
    job.a = tdl_f32(n->inputs[0]);
    job.b = tdl_f32(n->inputs[1]);
    job.y = tdl_f32(n);
    tdl_bcast_init(&job.bc, &n->value_shape, &n->inputs[0]->value_shape,
                   &n->inputs[1]->value_shape);
    int64_t inner = job.bc.dims[job.bc.nd - 1];
    if (job.bc.nd == 1) {
        tdl_parallel_for(ex->kenv.pool, inner, TDL_ELEMWISE_GRAIN, binary_rows, &job);
    } else {
        int64_t rows = tdl_numel(n) / inner;
        int64_t grain = TDL_ELEMWISE_GRAIN / inner + 1;
        tdl_parallel_for(ex->kenv.pool, rows, grain, binary_rows, &job);
    }
    return TDL_OK;
}

static tdl_status add_fwd(tdl_exec *ex, tdl_node *n)
{
    return binary_run(ex, n, BIN_ADD);
}
static tdl_status sub_fwd(tdl_exec *ex, tdl_node *n)
{
    return binary_run(ex, n, BIN_SUB);
}
static tdl_status mul_fwd(tdl_exec *ex, tdl_node *n)
{
    return binary_run(ex, n, BIN_MUL);
}
static tdl_status div_fwd(tdl_exec *ex, tdl_node *n)
{
    return binary_run(ex, n, BIN_DIV);
}
static tdl_status eq_fwd(tdl_exec *ex, tdl_node *n)
{
    return binary_run(ex, n, BIN_EQ);
}

/* ---- gradient rules ---- */

static int add_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_sum_to(g, dy, &n->inputs[0]->shape);
    dx[1] = tdl_sum_to(g, dy, &n->inputs[1]->shape);
    return dx[0] && dx[1] ? 0 : -1;
}

static int sub_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_sum_to(g, dy, &n->inputs[0]->shape);
    dx[1] = tdl_affine_scalar(g, tdl_sum_to(g, dy, &n->inputs[1]->shape), -1.0f, 0.0f);
    return dx[0] && dx[1] ? 0 : -1;
}

static int mul_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *a = n->inputs[0], *b = n->inputs[1];
    dx[0] = tdl_sum_to(g, tdl_mul(g, dy, b), &a->shape);
    dx[1] = tdl_sum_to(g, tdl_mul(g, dy, a), &b->shape);
    return dx[0] && dx[1] ? 0 : -1;
}

static int div_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    tdl_node *a = n->inputs[0], *b = n->inputs[1];
    dx[0] = tdl_sum_to(g, tdl_div(g, dy, b), &a->shape);
    /* d(a/b)/db = -(a/b)/b = -y/b */
    tdl_node *t = tdl_div(g, tdl_mul(g, dy, n), b);
    dx[1] = tdl_affine_scalar(g, tdl_sum_to(g, t, &b->shape), -1.0f, 0.0f);
    return dx[0] && dx[1] ? 0 : -1;
}

static const tdl_op_def op_add = {TDL_OPID_ADD, "add", 0, add_fwd, add_bwd};
static const tdl_op_def op_sub = {TDL_OPID_SUB, "sub", 0, sub_fwd, sub_bwd};
static const tdl_op_def op_mul = {TDL_OPID_MUL, "mul", 0, mul_fwd, mul_bwd};
static const tdl_op_def op_div = {TDL_OPID_DIV, "div", 0, div_fwd, div_bwd};
static const tdl_op_def op_eq = {TDL_OPID_EQ_MASK, "eq_mask", 0, eq_fwd, NULL};

static tdl_node *binary_build(tdl_graph *g, const tdl_op_def *op, tdl_node *a, tdl_node *b)
{
    tdl_node *in[2] = {a, b};
    if (tdl_builder_check(g, op->name, 2, in))
        return NULL;
    if (a->dtype != TDL_F32 || b->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "%s: '%s' is %s and '%s' is %s; both must be f32",
                                op->name, a->name, tdl_dtype_name(a->dtype), b->name,
                                tdl_dtype_name(b->dtype));
    tdl_shape out;
    if (tdl_shape_broadcast(&a->shape, &b->shape, &out) != 0) {
        char sa[96], sb[96];
        tdl_shape_str(&a->shape, sa, sizeof sa);
        tdl_shape_str(&b->shape, sb, sizeof sb);
        return tdl_graph_sticky(g, TDL_ERR_SHAPE,
                                "%s: shapes %s ('%s') and %s ('%s') do not broadcast", op->name, sa,
                                a->name, sb, b->name);
    }
    return tdl_node_new(g, op, NULL, 2, in, TDL_F32, &out, NULL);
}

TDL_API tdl_node *tdl_add(tdl_graph *g, tdl_node *a, tdl_node *b)
{
    return binary_build(g, &op_add, a, b);
}
TDL_API tdl_node *tdl_sub(tdl_graph *g, tdl_node *a, tdl_node *b)
{
    return binary_build(g, &op_sub, a, b);
}
TDL_API tdl_node *tdl_mul(tdl_graph *g, tdl_node *a, tdl_node *b)
{
    return binary_build(g, &op_mul, a, b);
}
TDL_API tdl_node *tdl_div(tdl_graph *g, tdl_node *a, tdl_node *b)
{
    return binary_build(g, &op_div, a, b);
}

tdl_node *tdl_eq_mask(tdl_graph *g, tdl_node *a, tdl_node *b)
{
    tdl_node *n = binary_build(g, &op_eq, a, b);
    if (n)
        n->flags |= TDL_NODE_NO_GRAD;
    return n;
}

/* ---- y = scale * x + shift ---- */

typedef struct affine_job {
    const float *x;
    float *y;
    float scale, shift;
} affine_job;

static void affine_chunk(void *arg, int64_t begin, int64_t end)
{
    affine_job *j = arg;
    /* scale * x, rounded, then + shift (no fused multiply-add) */
    tdlk_vaffine(end - begin, j->scale, j->shift, j->x + begin, j->y + begin);
}

static tdl_status affine_fwd(tdl_exec *ex, tdl_node *n)
{
    affine_job j = {tdl_f32(n->inputs[0]), tdl_f32(n), n->attrs.f[0], n->attrs.f[1]};
    tdl_parallel_for(ex->kenv.pool, tdl_numel(n), TDL_ELEMWISE_GRAIN, affine_chunk, &j);
    return TDL_OK;
}

static int affine_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_affine_scalar(g, dy, n->attrs.f[0], 0.0f);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_affine = {TDL_OPID_AFFINE, "affine", 0, affine_fwd, affine_bwd};

TDL_API tdl_node *tdl_affine_scalar(tdl_graph *g, tdl_node *x, float scale, float shift)
{
    if (tdl_builder_check(g, "affine", 1, &x))
        return NULL;
    if (x->dtype != TDL_F32)
        return tdl_graph_sticky(g, TDL_ERR_DTYPE, "affine: '%s' is %s, not f32", x->name,
                                tdl_dtype_name(x->dtype));
    if (!isfinite(scale) || !isfinite(shift))
        return tdl_graph_sticky(g, TDL_ERR_INVALID_ARGUMENT,
                                "affine: scale and shift must be finite");
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.f[0] = scale;
    at.f[1] = shift;
    return tdl_node_new(g, &op_affine, NULL, 1, &x, TDL_F32, &x->shape, &at);
}

/* ---- y = x / count, count = known * (sym_k * batch or 1): the 1/N of a mean
 * whose N depends on the batch ---- */

static tdl_status scale_count_fwd(tdl_exec *ex, tdl_node *n)
{
    double count = (double)n->attrs.i[0] * (n->attrs.i[1] ? (double)n->attrs.i[1] * ex->batch : 1);
    affine_job j = {tdl_f32(n->inputs[0]), tdl_f32(n), (float)(1.0 / count), 0.0f};
    tdl_parallel_for(ex->kenv.pool, tdl_numel(n), TDL_ELEMWISE_GRAIN, affine_chunk, &j);
    return TDL_OK;
}

static int scale_count_bwd(tdl_graph *g, tdl_node *n, tdl_node *dy, tdl_node **dx)
{
    dx[0] = tdl_scale_by_count(g, dy, n->attrs.i[0], n->attrs.i[1]);
    return dx[0] ? 0 : -1;
}

static const tdl_op_def op_scale_count = {TDL_OPID_SCALE_BY_COUNT, "scale_by_count", 0,
                                          scale_count_fwd, scale_count_bwd};

tdl_node *tdl_scale_by_count(tdl_graph *g, tdl_node *x, int64_t known, int64_t sym_k)
{
    if (tdl_builder_check(g, "scale_by_count", 1, &x))
        return NULL;
    tdl_attrs at;
    memset(&at, 0, sizeof at);
    at.i[0] = known;
    at.i[1] = sym_k;
    return tdl_node_new(g, &op_scale_count, NULL, 1, &x, TDL_F32, &x->shape, &at);
}
