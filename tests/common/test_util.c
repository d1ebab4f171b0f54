#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *t_malloc(size_t size, void *user)
{
    test_alloc *a = user;
    a->calls++;
    if (a->fail_at && a->calls == a->fail_at) {
        a->failed++;
        return NULL;
    }
    void *p = malloc(size);
    if (p)
        a->live++;
    return p;
}

static void *t_realloc(void *ptr, size_t size, void *user)
{
    test_alloc *a = user;
    a->calls++;
    if (a->fail_at && a->calls == a->fail_at) {
        a->failed++;
        return NULL;
    }
    void *p = realloc(ptr, size);
    if (p && !ptr)
        a->live++;
    return p;
}

static void t_free(void *ptr, void *user)
{
    test_alloc *a = user;
    if (ptr)
        a->live--;
    free(ptr);
}

void test_alloc_reset(test_alloc *a, int64_t fail_at)
{
    memset(a, 0, sizeof *a);
    a->fail_at = fail_at;
}

tdl_ctx *test_ctx_with_alloc(test_alloc *a, int64_t fail_at)
{
    test_alloc_reset(a, fail_at);
    tdl_ctx *ctx = NULL;
    if (tdl_ctx_create_with_allocator(&ctx, t_malloc, t_realloc, t_free, a) != TDL_OK)
        return NULL;
    return ctx;
}

tdl_ctx *test_ctx(void)
{
    tdl_ctx *ctx = NULL;
    TDL_OK_OR_FAIL(tdl_ctx_create(&ctx));
    return ctx;
}

void test_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; ++i) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

tdl_node *test_param(tdl_graph *g, const char *name, int32_t ndim, const int64_t *shape, float lo,
                     float hi)
{
    tdl_node *p = tdl_param(g, name, ndim, shape, TDL_INIT_ZEROS, 0, 0);
    if (!p)
        return NULL;
    int64_t n = 1;
    for (int32_t i = 0; i < ndim; ++i)
        n *= shape[i];
    uint64_t seed = 0;
    for (const char *c = name; *c; ++c)
        seed = seed * 131 + (unsigned char)*c;
    test_fill_uniform(tdl_param_data(p), n, lo, hi, seed);
    return p;
}

tdl_node *test_weighted_sum(tdl_graph *g, tdl_node *y, uint64_t seed)
{
    int32_t nd;
    int64_t shape[TDL_MAX_DIMS];
    if (!y || tdl_node_shape(y, &nd, shape) != TDL_OK)
        return NULL;
    int64_t n = 1;
    for (int32_t i = 0; i < nd; ++i)
        n *= shape[i];
    float *w = malloc(sizeof(float) * (size_t)(n ? n : 1));
    test_fill_uniform(w, n, -1.0f, 1.0f, seed);
    tdl_node *c = tdl_constant(g, NULL, w, nd, shape);
    free(w);
    return tdl_sum(g, tdl_mul(g, y, c), 0, NULL, 0);
}

static int loss_value(tdl_graph *g, tdl_node *loss, double *out)
{
    float v;
    if (tdl_forward(g) != TDL_OK || tdl_node_read(loss, &v, sizeof v) != TDL_OK)
        return -1;
    *out = v;
    return 0;
}

int test_gradcheck(tdl_graph *g, tdl_node *loss, float eps, float atol, float rtol)
{
    if (tdl_graph_compile(g) != TDL_OK) {
        print_error("compile failed: %s\n", tdl_graph_error(g));
        return -1;
    }
    if (tdl_forward(g) != TDL_OK || tdl_backward(g, loss) != TDL_OK) {
        print_error("forward/backward failed: %s\n", tdl_graph_error(g));
        return -1;
    }
    int bad = 0;
    int64_t np = tdl_graph_param_count(g);
    for (int64_t p = 0; p < np; ++p) {
        tdl_node *param = tdl_graph_param(g, p);
        if (!tdl_param_trainable(param))
            continue;
        int32_t nd;
        int64_t shape[TDL_MAX_DIMS], n = 1;
        tdl_node_shape(param, &nd, shape);
        for (int32_t i = 0; i < nd; ++i)
            n *= shape[i];
        float *x = tdl_param_data(param);
        float *ana = malloc(sizeof(float) * (size_t)n);
        memcpy(ana, tdl_param_grad(param), sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; ++i) {
            float keep = x[i];
            double lp, lm;
            x[i] = keep + eps;
            int e1 = loss_value(g, loss, &lp);
            x[i] = keep - eps;
            int e2 = loss_value(g, loss, &lm);
            x[i] = keep;
            if (e1 || e2) {
                print_error("forward failed during gradcheck: %s\n", tdl_graph_error(g));
                free(ana);
                return -1;
            }
            double num = (lp - lm) / (2.0 * eps);
            double a = ana[i];
            double tol = atol + rtol * fmax(fabs(num), fabs(a));
            if (!(fabs(num - a) <= tol)) {
                if (bad < 5)
                    print_error("gradcheck '%s'[%lld]: analytic %.6g numeric %.6g\n",
                                tdl_node_name(param), (long long)i, a, num);
                bad++;
            }
        }
        free(ana);
    }
    return bad;
}

const char *test_fmnist_dir(void)
{
    const char *d = getenv("TDL_FMNIST_DIR");
    if (!d || !*d)
        d = "/usr/share/datasets/fashion-mnist";
    char p[1024];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", d);
    return access(p, R_OK) == 0 ? d : NULL;
}
