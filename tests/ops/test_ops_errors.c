/* Bad arguments of the op builders: NULL graph or node, shape and dtype
 * mismatches, out-of-range values; the sticky error (first error kept, later
 * builders return NULL, tdl_graph_compile() reports it); run-time label checks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

/* A fresh graph with a set of valid nodes to misuse. */
typedef struct nodes {
    fx f;
    tdl_graph *g;
    tdl_node *a23, *b23, *a4, *a3, *a234, *a33, *a45, *i23, *i4, *lab4, *lab3, *flab4, *z45, *xb,
        *p23;
} nodes;

static void setup(nodes *n)
{
    fx_open(&n->f);
    tdl_graph *g = n->g = n->f.g;
    const int64_t s23[2] = {2, 3}, s4[1] = {4}, s3[1] = {3}, s234[3] = {2, 3, 4};
    const int64_t s33[2] = {3, 3}, s45[2] = {4, 5}, sb[2] = {TDL_BATCH, 3};
    n->a23 = BUILT(g, tdl_input(g, "a23", TDL_F32, 2, s23));
    n->b23 = BUILT(g, tdl_input(g, "b23", TDL_F32, 2, s23));
    n->a4 = BUILT(g, tdl_input(g, "a4", TDL_F32, 1, s4));
    n->a3 = BUILT(g, tdl_input(g, "a3", TDL_F32, 1, s3));
    n->a234 = BUILT(g, tdl_input(g, "a234", TDL_F32, 3, s234));
    n->a33 = BUILT(g, tdl_input(g, "a33", TDL_F32, 2, s33));
    n->a45 = BUILT(g, tdl_input(g, "a45", TDL_F32, 2, s45));
    n->i23 = BUILT(g, tdl_input(g, "i23", TDL_I32, 2, s23));
    n->i4 = BUILT(g, tdl_input(g, "i4", TDL_I32, 1, s4));
    n->lab4 = BUILT(g, tdl_input(g, "lab4", TDL_I32, 1, s4));
    n->lab3 = BUILT(g, tdl_input(g, "lab3", TDL_I32, 1, s3));
    n->flab4 = BUILT(g, tdl_input(g, "flab4", TDL_F32, 1, s4));
    n->z45 = BUILT(g, tdl_input(g, "z45", TDL_F32, 2, s45));
    n->xb = BUILT(g, tdl_input(g, "xb", TDL_F32, 2, sb));
    n->p23 = BUILT(g, tdl_param(g, "p23", 2, s23, TDL_INIT_ZEROS, 0, 0));
    assert_int_equal(tdl_graph_status(g), TDL_OK);
}

/* The builder returned NULL, the graph holds `code` with a message naming the
 * op; the error is sticky: later builders do nothing and compile reports it. */
static void check_error(nodes *n, tdl_node *r, tdl_status code, const char *needle,
                        const char *expr)
{
    tdl_graph *g = n->g;
    if (r)
        fail_msg("%s: returned a node, expected NULL with %s", expr, tdl_status_string(code));
    if (tdl_graph_status(g) != code)
        fail_msg("%s: status %d (%s), expected %d (%s); message: %s", expr,
                 (int)tdl_graph_status(g), tdl_status_string(tdl_graph_status(g)), (int)code,
                 tdl_status_string(code), tdl_graph_error(g));
    if (!strstr(tdl_graph_error(g), needle))
        fail_msg("%s: message \"%s\" does not name \"%s\"", expr, tdl_graph_error(g), needle);
    check_contains(tdl_last_error(), needle);
    char first[1024];
    snprintf(first, sizeof first, "%s", tdl_graph_error(g));
    /* sticky: a valid builder now returns NULL and changes nothing */
    assert_null(tdl_relu(g, n->a23));
    assert_null(tdl_add(g, n->a23, n->b23));
    assert_int_equal(tdl_graph_status(g), code);
    assert_string_equal(tdl_graph_error(g), first);
    assert_int_equal(tdl_graph_compile(g), code);
    assert_string_equal(tdl_graph_error(g), first);
}

#define EXPECT_ERROR(expr, code, needle)                                                           \
    do {                                                                                           \
        nodes n_;                                                                                  \
        setup(&n_);                                                                                \
        nodes *n = &n_;                                                                            \
        tdl_graph *g = n->g;                                                                       \
        (void)g;                                                                                   \
        check_error(n, (expr), (code), (needle), #expr);                                           \
        fx_close(&n_.f);                                                                           \
    } while (0)

/* ---- NULL graph, NULL node, node of another graph ---- */

enum { N_BUILDERS = 37 };

/* Builder `which` with valid-looking arguments built from a and b (f32 [2,3]),
 * lab (i32 [2]); returns its op name for messages. */
static tdl_node *call_builder(int which, tdl_graph *g, tdl_node *a, tdl_node *b, tdl_node *lab,
                              const char **name)
{
    static const int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[1] = {6};
    static const int32_t perm[2] = {1, 0}, ax1 = 1;
    static const float data[6] = {0};
    tdl_node *xs[2] = {a, b};
    switch (which) {
    case 0: *name = "add"; return tdl_add(g, a, b);
    case 1: *name = "sub"; return tdl_sub(g, a, b);
    case 2: *name = "mul"; return tdl_mul(g, a, b);
    case 3: *name = "div"; return tdl_div(g, a, b);
    case 4: *name = "affine"; return tdl_affine_scalar(g, a, 2.0f, 1.0f);
    case 5: *name = "matmul"; return tdl_matmul(g, a, tdl_transpose(g, b));
    case 6: *name = "reshape"; return tdl_reshape(g, a, 1, s6);
    case 7: *name = "transpose"; return tdl_transpose(g, a);
    case 8: *name = "permute"; return tdl_permute(g, a, 2, perm);
    case 9: *name = "concat"; return tdl_concat(g, 2, xs, 0);
    case 10: *name = "slice"; return tdl_slice(g, a, 1, 0, 2);
    case 11: *name = "sum"; return tdl_sum(g, a, 1, &ax1, 0);
    case 12: *name = "mean"; return tdl_mean(g, a, 1, &ax1, 0);
    case 13: *name = "max"; return tdl_max(g, a, 1, &ax1, 0);
    case 14: *name = "relu"; return tdl_relu(g, a);
    case 15: *name = "leaky_relu"; return tdl_leaky_relu(g, a, 0.1f);
    case 16: *name = "elu"; return tdl_elu(g, a, 1.0f);
    case 17: *name = "sigmoid"; return tdl_sigmoid(g, a);
    case 18: *name = "tanh"; return tdl_tanh(g, a);
    case 19: *name = "gelu"; return tdl_gelu(g, a);
    case 20: *name = "exp"; return tdl_exp(g, a);
    case 21: *name = "log"; return tdl_log(g, a);
    case 22: *name = "sqrt"; return tdl_sqrt(g, a);
    case 23: *name = "softmax"; return tdl_softmax(g, a, -1);
    case 24: *name = "log_softmax"; return tdl_log_softmax(g, a, -1);
    case 25: *name = "dropout"; return tdl_dropout(g, a, 0.5f);
    case 26: *name = "stop_gradient"; return tdl_stop_gradient(g, a);
    case 27: *name = "mse_loss"; return tdl_mse_loss(g, a, b);
    case 28: *name = "cross_entropy"; return tdl_cross_entropy(g, a, lab);
    case 29: *name = "cross_entropy"; return tdl_cross_entropy_smooth(g, a, lab, 0.1f);
    case 30: *name = "bce_with_logits"; return tdl_bce_with_logits(g, a, b);
    case 31: *name = "dense"; return tdl_dense(g, a, 4, "fc");
    case 32: *name = "dense"; return tdl_dense_ex(g, a, 4, "fc", TDL_INIT_HE_NORMAL, 0);
    case 33: *name = "grad"; return tdl_grad(g, tdl_sum(g, a, 0, NULL, 0), b);
    case 34: *name = "input"; return tdl_input(g, "new_input", TDL_F32, 2, s23);
    case 35: *name = "param"; return tdl_param(g, "new_param", 2, s32, TDL_INIT_ZEROS, 0, 0);
    default: *name = "constant"; return tdl_constant(g, "new_const", data, 2, s23);
    }
}

static void test_null_graph(void **state)
{
    (void)state;
    nodes n;
    setup(&n);
    for (int w = 0; w < N_BUILDERS; ++w) {
        const char *name = "";
        /* a different failing call first, so that a stale message cannot pass */
        assert_int_equal(tdl_graph_create(NULL, NULL), TDL_ERR_INVALID_ARGUMENT);
        tdl_node *r = call_builder(w, NULL, n.a23, n.b23, n.lab4, &name);
        if (r)
            fail_msg("builder %d (%s) with a NULL graph returned a node", w, name);
        if (!strstr(tdl_last_error(), name))
            fail_msg("builder %d with a NULL graph: last error \"%s\" does not name \"%s\"", w,
                     tdl_last_error(), name);
    }
    /* the graph given the nodes was not touched */
    assert_int_equal(tdl_graph_status(n.g), TDL_OK);
    /* NULL graph together with an invalid parameter: still reported */
    assert_null(tdl_sigmoid(NULL, n.a23));
    assert_null(tdl_leaky_relu(NULL, n.a23, NAN));
    check_contains(tdl_last_error(), "leaky_relu");
    assert_null(tdl_sigmoid(NULL, n.a23));
    assert_null(tdl_elu(NULL, n.a23, INFINITY));
    check_contains(tdl_last_error(), "elu");
    assert_null(tdl_sigmoid(NULL, n.a23));
    assert_null(tdl_concat(NULL, 0, NULL, 0));
    check_contains(tdl_last_error(), "concat");
    fx_close(&n.f);
}

static void test_null_node(void **state)
{
    (void)state;
    /* builders 0..33 take nodes: give them NULL for the first float input */
    for (int w = 0; w < 34; ++w) {
        nodes n;
        setup(&n);
        const char *name = "";
        tdl_node *r = call_builder(w, n.g, NULL, n.b23, n.lab4, &name);
        if (r)
            fail_msg("builder %d (%s) with a NULL node returned a node", w, name);
        if (tdl_graph_status(n.g) != TDL_ERR_INVALID_ARGUMENT)
            fail_msg("builder %d (%s) with a NULL node: status %d, message %s", w, name,
                     (int)tdl_graph_status(n.g), tdl_graph_error(n.g));
        assert_true(tdl_graph_error(n.g)[0] != '\0');
        assert_true(tdl_last_error()[0] != '\0');
        assert_int_equal(tdl_graph_compile(n.g), TDL_ERR_INVALID_ARGUMENT);
        fx_close(&n.f);
    }
    /* the second input NULL (binary builders and losses) */
    const int second[] = {0, 1, 2, 3, 9, 27, 28, 29, 30, 33};
    for (size_t i = 0; i < sizeof second / sizeof second[0]; ++i) {
        nodes n;
        setup(&n);
        const char *name = "";
        tdl_node *lab = (second[i] == 28 || second[i] == 29) ? NULL : n.lab4;
        tdl_node *b = (second[i] == 28 || second[i] == 29) ? n.b23 : NULL;
        assert_null(call_builder(second[i], n.g, n.a23, b, lab, &name));
        if (tdl_graph_status(n.g) != TDL_ERR_INVALID_ARGUMENT)
            fail_msg("builder %s with a NULL second node: status %d", name,
                     (int)tdl_graph_status(n.g));
        check_contains(tdl_graph_error(n.g), name);
        fx_close(&n.f);
    }
}

static void test_foreign_node(void **state)
{
    (void)state;
    nodes other;
    setup(&other);
    for (int w = 0; w < 34; ++w) {
        nodes n;
        setup(&n);
        const char *name = "";
        assert_null(call_builder(w, n.g, other.a23, n.b23, n.lab4, &name));
        if (tdl_graph_status(n.g) != TDL_ERR_INVALID_ARGUMENT)
            fail_msg("builder %d (%s) with a node of another graph: status %d", w, name,
                     (int)tdl_graph_status(n.g));
        check_contains(tdl_graph_error(n.g), "another graph");
        fx_close(&n.f);
    }
    assert_int_equal(tdl_graph_status(other.g), TDL_OK);
    fx_close(&other.f);
}

/* ---- shape, dtype and value errors, builder by builder ---- */

static void test_binary_errors(void **state)
{
    (void)state;
    EXPECT_ERROR(tdl_add(g, n->a23, n->a4), TDL_ERR_SHAPE, "add");
    EXPECT_ERROR(tdl_sub(g, n->a23, n->a4), TDL_ERR_SHAPE, "sub");
    EXPECT_ERROR(tdl_mul(g, n->a4, n->a23), TDL_ERR_SHAPE, "mul");
    EXPECT_ERROR(tdl_div(g, n->a234, n->a23), TDL_ERR_SHAPE, "div");
    EXPECT_ERROR(tdl_add(g, n->a23, n->a33), TDL_ERR_SHAPE, "[2, 3]");
    EXPECT_ERROR(tdl_add(g, n->a23, n->i23), TDL_ERR_DTYPE, "add");
    EXPECT_ERROR(tdl_mul(g, n->i23, n->a23), TDL_ERR_DTYPE, "mul");
    EXPECT_ERROR(tdl_affine_scalar(g, n->i23, 1, 0), TDL_ERR_DTYPE, "affine");
    EXPECT_ERROR(tdl_affine_scalar(g, n->a23, NAN, 0), TDL_ERR_INVALID_ARGUMENT, "affine");
    EXPECT_ERROR(tdl_affine_scalar(g, n->a23, 1, INFINITY), TDL_ERR_INVALID_ARGUMENT, "affine");
}

static void test_matmul_errors(void **state)
{
    (void)state;
    EXPECT_ERROR(tdl_matmul(g, n->a23, n->a45), TDL_ERR_SHAPE, "matmul");
    EXPECT_ERROR(tdl_matmul(g, n->a23, n->a45), TDL_ERR_SHAPE, "inner");
    EXPECT_ERROR(tdl_matmul(g, n->a4, n->a45), TDL_ERR_SHAPE, "matmul");
    EXPECT_ERROR(tdl_matmul(g, n->a23, n->a234), TDL_ERR_SHAPE, "matmul");
    EXPECT_ERROR(tdl_matmul(g, n->a234, tdl_reshape(g, n->a234, 3, (int64_t[]){3, 4, 2})),
                 TDL_ERR_SHAPE, "matmul");
    EXPECT_ERROR(tdl_matmul(g, n->i23, n->a33), TDL_ERR_DTYPE, "matmul");
}

static void test_shape_op_errors(void **state)
{
    (void)state;
    EXPECT_ERROR(tdl_reshape(g, n->a23, 2, (int64_t[]){4, 2}), TDL_ERR_SHAPE, "reshape");
    EXPECT_ERROR(tdl_reshape(g, n->a23, 2, (int64_t[]){4, -1}), TDL_ERR_SHAPE, "reshape");
    EXPECT_ERROR(tdl_reshape(g, n->a23, 3, (int64_t[]){-1, -1, 6}), TDL_ERR_SHAPE, "reshape");
    EXPECT_ERROR(tdl_reshape(g, n->a23, 2, (int64_t[]){0, 6}), TDL_ERR_SHAPE, "reshape");
    EXPECT_ERROR(tdl_reshape(g, n->a23, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 6}),
                 TDL_ERR_INVALID_ARGUMENT, "reshape");
    EXPECT_ERROR(tdl_reshape(g, n->a23, 1, NULL), TDL_ERR_INVALID_ARGUMENT, "reshape");
    EXPECT_ERROR(tdl_reshape(g, n->xb, 1, (int64_t[]){6}), TDL_ERR_SHAPE, "reshape");
    EXPECT_ERROR(tdl_transpose(g, n->a4), TDL_ERR_SHAPE, "transpose");
    EXPECT_ERROR(tdl_permute(g, n->a234, 3, (int32_t[]){0, 0, 1}), TDL_ERR_INVALID_ARGUMENT,
                 "permute");
    EXPECT_ERROR(tdl_permute(g, n->a234, 3, (int32_t[]){0, 1, 3}), TDL_ERR_INVALID_ARGUMENT,
                 "permute");
    EXPECT_ERROR(tdl_permute(g, n->a234, 3, (int32_t[]){0, -1, 2}), TDL_ERR_INVALID_ARGUMENT,
                 "permute");
    EXPECT_ERROR(tdl_permute(g, n->a234, 2, (int32_t[]){1, 0}), TDL_ERR_INVALID_ARGUMENT,
                 "permute");
    EXPECT_ERROR(tdl_permute(g, n->a234, 3, NULL), TDL_ERR_INVALID_ARGUMENT, "permute");
    /* concat */
    EXPECT_ERROR(tdl_concat(g, 2, (tdl_node *[]){n->a23, n->a33}, 1), TDL_ERR_SHAPE, "concat");
    EXPECT_ERROR(tdl_concat(g, 3, (tdl_node *[]){n->a23, n->b23, n->a33}, 1), TDL_ERR_SHAPE,
                 "concat");
    EXPECT_ERROR(tdl_concat(g, 2, (tdl_node *[]){n->a23, n->a234}, 0), TDL_ERR_SHAPE, "concat");
    EXPECT_ERROR(tdl_concat(g, 2, (tdl_node *[]){n->a23, n->i23}, 0), TDL_ERR_DTYPE, "concat");
    EXPECT_ERROR(tdl_concat(g, 2, (tdl_node *[]){n->a23, n->b23}, 2), TDL_ERR_INVALID_ARGUMENT,
                 "concat");
    EXPECT_ERROR(tdl_concat(g, 2, (tdl_node *[]){n->a23, n->b23}, -3), TDL_ERR_INVALID_ARGUMENT,
                 "concat");
    EXPECT_ERROR(tdl_concat(g, 0, (tdl_node *[]){n->a23}, 0), TDL_ERR_INVALID_ARGUMENT, "concat");
    EXPECT_ERROR(tdl_concat(g, 2, NULL, 0), TDL_ERR_INVALID_ARGUMENT, "concat");
    EXPECT_ERROR(tdl_concat(g, 2, (tdl_node *[]){n->xb, n->xb}, 0), TDL_ERR_SHAPE, "concat");
    /* slice */
    EXPECT_ERROR(tdl_slice(g, n->a23, 1, 0, 4), TDL_ERR_INVALID_ARGUMENT, "slice");
    EXPECT_ERROR(tdl_slice(g, n->a23, 1, -1, 2), TDL_ERR_INVALID_ARGUMENT, "slice");
    EXPECT_ERROR(tdl_slice(g, n->a23, 1, 2, 2), TDL_ERR_INVALID_ARGUMENT, "slice");
    EXPECT_ERROR(tdl_slice(g, n->a23, 1, 3, 1), TDL_ERR_INVALID_ARGUMENT, "slice");
    EXPECT_ERROR(tdl_slice(g, n->a23, 2, 0, 1), TDL_ERR_INVALID_ARGUMENT, "slice");
    EXPECT_ERROR(tdl_slice(g, n->a23, -3, 0, 1), TDL_ERR_INVALID_ARGUMENT, "slice");
    EXPECT_ERROR(tdl_slice(g, n->xb, 0, 0, 1), TDL_ERR_SHAPE, "slice");
}

static void test_reduce_errors(void **state)
{
    (void)state;
    static const int32_t ax3 = 3, axm4 = -4, rep[2] = {1, 1}, many[4] = {0, 1, 2, 0};
    EXPECT_ERROR(tdl_sum(g, n->a234, 1, &ax3, 0), TDL_ERR_INVALID_ARGUMENT, "sum");
    EXPECT_ERROR(tdl_mean(g, n->a234, 1, &axm4, 1), TDL_ERR_INVALID_ARGUMENT, "mean");
    EXPECT_ERROR(tdl_max(g, n->a234, 2, rep, 0), TDL_ERR_INVALID_ARGUMENT, "max");
    EXPECT_ERROR(tdl_sum(g, n->a234, 4, many, 0), TDL_ERR_INVALID_ARGUMENT, "sum");
    EXPECT_ERROR(tdl_sum(g, n->a234, -1, NULL, 0), TDL_ERR_INVALID_ARGUMENT, "sum");
    EXPECT_ERROR(tdl_sum(g, n->a234, 1, NULL, 0), TDL_ERR_INVALID_ARGUMENT, "sum");
    EXPECT_ERROR(tdl_mean(g, n->i23, 0, NULL, 0), TDL_ERR_DTYPE, "mean");
}

static void test_activation_errors(void **state)
{
    (void)state;
    EXPECT_ERROR(tdl_leaky_relu(g, n->a23, NAN), TDL_ERR_INVALID_ARGUMENT, "leaky_relu");
    EXPECT_ERROR(tdl_leaky_relu(g, n->a23, INFINITY), TDL_ERR_INVALID_ARGUMENT, "leaky_relu");
    EXPECT_ERROR(tdl_elu(g, n->a23, NAN), TDL_ERR_INVALID_ARGUMENT, "elu");
    EXPECT_ERROR(tdl_relu(g, n->i23), TDL_ERR_DTYPE, "relu");
    EXPECT_ERROR(tdl_sigmoid(g, n->i23), TDL_ERR_DTYPE, "sigmoid");
    EXPECT_ERROR(tdl_tanh(g, n->i23), TDL_ERR_DTYPE, "tanh");
    EXPECT_ERROR(tdl_gelu(g, n->i23), TDL_ERR_DTYPE, "gelu");
    EXPECT_ERROR(tdl_exp(g, n->i23), TDL_ERR_DTYPE, "exp");
    EXPECT_ERROR(tdl_log(g, n->i23), TDL_ERR_DTYPE, "log");
    EXPECT_ERROR(tdl_sqrt(g, n->i23), TDL_ERR_DTYPE, "sqrt");
    EXPECT_ERROR(tdl_softmax(g, n->a23, 2), TDL_ERR_INVALID_ARGUMENT, "softmax");
    EXPECT_ERROR(tdl_softmax(g, n->a23, -3), TDL_ERR_INVALID_ARGUMENT, "softmax");
    EXPECT_ERROR(tdl_log_softmax(g, n->a23, 5), TDL_ERR_INVALID_ARGUMENT, "log_softmax");
    EXPECT_ERROR(tdl_softmax(g, n->i23, 0), TDL_ERR_DTYPE, "softmax");
    EXPECT_ERROR(tdl_dropout(g, n->a23, 1.0f), TDL_ERR_INVALID_ARGUMENT, "dropout");
    EXPECT_ERROR(tdl_dropout(g, n->a23, -0.1f), TDL_ERR_INVALID_ARGUMENT, "dropout");
    EXPECT_ERROR(tdl_dropout(g, n->a23, NAN), TDL_ERR_INVALID_ARGUMENT, "dropout");
    EXPECT_ERROR(tdl_dropout(g, n->i23, 0.5f), TDL_ERR_DTYPE, "dropout");
}

static void test_loss_errors(void **state)
{
    (void)state;
    EXPECT_ERROR(tdl_mse_loss(g, n->a23, n->a33), TDL_ERR_SHAPE, "mse_loss");
    EXPECT_ERROR(tdl_mse_loss(g, n->a23, n->a3), TDL_ERR_SHAPE, "mse_loss");
    EXPECT_ERROR(tdl_mse_loss(g, n->i23, n->i23), TDL_ERR_DTYPE, "mse_loss");
    EXPECT_ERROR(tdl_mse_loss(g, n->a23, n->i23), TDL_ERR_DTYPE, "mse_loss");
    EXPECT_ERROR(tdl_cross_entropy(g, n->z45, n->flab4), TDL_ERR_DTYPE, "cross_entropy");
    EXPECT_ERROR(tdl_cross_entropy(g, n->z45, n->lab3), TDL_ERR_SHAPE, "cross_entropy");
    EXPECT_ERROR(tdl_cross_entropy(g, n->z45, n->i23), TDL_ERR_SHAPE, "cross_entropy");
    EXPECT_ERROR(tdl_cross_entropy(g, n->a234, n->lab4), TDL_ERR_SHAPE, "cross_entropy");
    EXPECT_ERROR(tdl_cross_entropy(g, n->a4, n->lab4), TDL_ERR_SHAPE, "cross_entropy");
    EXPECT_ERROR(tdl_cross_entropy(g, n->i23, n->lab4), TDL_ERR_DTYPE, "cross_entropy");
    EXPECT_ERROR(tdl_cross_entropy_smooth(g, n->z45, n->lab4, 1.0f), TDL_ERR_INVALID_ARGUMENT,
                 "cross_entropy");
    EXPECT_ERROR(tdl_cross_entropy_smooth(g, n->z45, n->lab4, -0.5f), TDL_ERR_INVALID_ARGUMENT,
                 "cross_entropy");
    EXPECT_ERROR(tdl_cross_entropy_smooth(g, n->z45, n->lab4, NAN), TDL_ERR_INVALID_ARGUMENT,
                 "cross_entropy");
    EXPECT_ERROR(tdl_bce_with_logits(g, n->a23, n->a33), TDL_ERR_SHAPE, "bce_with_logits");
    EXPECT_ERROR(tdl_bce_with_logits(g, n->a23, n->i23), TDL_ERR_DTYPE, "bce_with_logits");
}

static void test_layer_and_source_errors(void **state)
{
    (void)state;
    EXPECT_ERROR(tdl_dense(g, n->a23, 0, "fc"), TDL_ERR_INVALID_ARGUMENT, "dense");
    EXPECT_ERROR(tdl_dense(g, n->a23, 4, NULL), TDL_ERR_INVALID_ARGUMENT, "dense");
    EXPECT_ERROR(tdl_dense(g, n->a23, 4, ""), TDL_ERR_INVALID_ARGUMENT, "dense");
    EXPECT_ERROR(tdl_grad(g, n->a23, n->p23), TDL_ERR_SHAPE, "grad");
    EXPECT_ERROR(tdl_grad(g, tdl_sum(g, n->a23, 0, NULL, 0), n->i23), TDL_ERR_DTYPE, "grad");
    EXPECT_ERROR(tdl_input(g, "x", 7, 1, (int64_t[]){3}), TDL_ERR_DTYPE, "input");
    EXPECT_ERROR(tdl_input(g, "x", TDL_F32, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}),
                 TDL_ERR_INVALID_ARGUMENT, "input");
    EXPECT_ERROR(tdl_input(g, "x", TDL_F32, 2, (int64_t[]){0, 3}), TDL_ERR_SHAPE, "input");
    EXPECT_ERROR(tdl_input(g, "x", TDL_F32, 2, (int64_t[]){TDL_BATCH, TDL_BATCH}), TDL_ERR_SHAPE,
                 "input");
    EXPECT_ERROR(tdl_input(g, "a23", TDL_F32, 1, (int64_t[]){3}), TDL_ERR_INVALID_ARGUMENT, "a23");
    EXPECT_ERROR(tdl_param(g, NULL, 1, (int64_t[]){3}, TDL_INIT_ZEROS, 0, 0),
                 TDL_ERR_INVALID_ARGUMENT, "param");
    EXPECT_ERROR(tdl_param(g, "w", 1, (int64_t[]){TDL_BATCH}, TDL_INIT_ZEROS, 0, 0), TDL_ERR_SHAPE,
                 "param");
    EXPECT_ERROR(tdl_param(g, "w", 1, (int64_t[]){3}, 99, 0, 0), TDL_ERR_INVALID_ARGUMENT, "param");
    EXPECT_ERROR(tdl_constant(g, "c", NULL, 1, (int64_t[]){3}), TDL_ERR_INVALID_ARGUMENT,
                 "constant");
}

/* ---- stickiness across several errors ---- */

static void test_sticky(void **state)
{
    (void)state;
    nodes n;
    setup(&n);
    tdl_graph *g = n.g;
    tdl_node *ok = BUILT(g, tdl_relu(g, n.a23));
    /* first error */
    assert_null(tdl_add(g, ok, n.a4));
    assert_int_equal(tdl_graph_status(g), TDL_ERR_SHAPE);
    char first[1024];
    snprintf(first, sizeof first, "%s", tdl_graph_error(g));
    check_contains(first, "add");
    /* later errors of other kinds do not replace it */
    assert_null(tdl_matmul(g, n.a23, n.a45));
    assert_null(tdl_dropout(g, n.a23, 2.0f));
    assert_null(tdl_relu(g, n.i23));
    assert_null(tdl_relu(g, NULL));
    /* nor do valid builders succeed */
    assert_null(tdl_sigmoid(g, ok));
    assert_null(tdl_input(g, "late", TDL_F32, 1, (int64_t[]){3}));
    assert_null(tdl_param(g, "late_p", 1, (int64_t[]){3}, TDL_INIT_ZEROS, 0, 0));
    assert_null(tdl_graph_find(g, "late"));
    assert_int_equal(tdl_graph_status(g), TDL_ERR_SHAPE);
    assert_string_equal(tdl_graph_error(g), first);
    assert_int_equal(tdl_graph_compile(g), TDL_ERR_SHAPE);
    assert_string_equal(tdl_graph_error(g), first);
    /* running reports the first error too */
    assert_int_equal(tdl_forward(g), TDL_ERR_SHAPE);
    check_contains(tdl_graph_error(g), first);
    assert_int_equal(tdl_graph_compile(g), TDL_ERR_SHAPE);
    fx_close(&n.f);
}

/* ---- run-time label checks ---- */

static void test_label_out_of_range(void **state)
{
    (void)state;
    for (int smooth = 0; smooth < 2; ++smooth) {
        fx f;
        fx_open(&f);
        tdl_graph *g = f.g;
        const int64_t sz[2] = {TDL_BATCH, 4}, sl[1] = {TDL_BATCH};
        tdl_node *z = BUILT(g, tdl_input(g, "logits", TDL_F32, 2, sz));
        tdl_node *lab = BUILT(g, tdl_input(g, "labels", TDL_I32, 1, sl));
        tdl_node *loss = smooth ? BUILT(g, tdl_cross_entropy_smooth(g, z, lab, 0.1f))
                                : BUILT(g, tdl_cross_entropy(g, z, lab));
        assert_int_equal(tdl_graph_compile(g), TDL_OK);
        float zv[12];
        test_fill_uniform(zv, 12, -1, 1, 500);
        const int64_t fz[2] = {3, 4}, fl[1] = {3};
        const int32_t bad_hi[3] = {0, 7, 1}, bad_lo[3] = {2, 3, -1}, good[3] = {0, 3, 1};
        const int32_t bad_edge[3] = {3, 0, 4}; /* C = 4 itself is out of range */
        assert_int_equal(tdl_feed(g, z, zv, 2, fz), TDL_OK);
        assert_int_equal(tdl_feed(g, lab, bad_hi, 1, fl), TDL_OK);
        assert_int_equal(tdl_forward(g), TDL_ERR_INVALID_ARGUMENT);
        check_contains(tdl_graph_error(g), "label 7");
        check_contains(tdl_graph_error(g), "row 1");
        check_contains(tdl_last_error(), "label 7");
        /* a run-time error is not sticky: the graph runs again with good labels */
        assert_int_equal(tdl_graph_status(g), TDL_OK);
        assert_int_equal(tdl_feed(g, lab, bad_lo, 1, fl), TDL_OK);
        assert_int_equal(tdl_run(g, loss), TDL_ERR_INVALID_ARGUMENT);
        check_contains(tdl_graph_error(g), "label -1");
        check_contains(tdl_graph_error(g), "row 2");
        assert_int_equal(tdl_feed(g, lab, bad_edge, 1, fl), TDL_OK);
        assert_int_equal(tdl_forward(g), TDL_ERR_INVALID_ARGUMENT);
        check_contains(tdl_graph_error(g), "label 4");
        check_contains(tdl_graph_error(g), "row 2");
        assert_int_equal(tdl_feed(g, lab, good, 1, fl), TDL_OK);
        assert_int_equal(tdl_forward(g), TDL_OK);
        float v;
        read_node(loss, &v, 1);
        assert_true(isfinite(v) && v > 0);
        /* backward works; then a bad label fails the next forward */
        assert_int_equal(tdl_backward(g, loss), TDL_OK);
        assert_int_equal(tdl_feed(g, lab, bad_hi, 1, fl), TDL_OK);
        assert_int_equal(tdl_forward(g), TDL_ERR_INVALID_ARGUMENT);
        check_contains(tdl_graph_error(g), "label 7");
        assert_int_equal(tdl_backward(g, loss), TDL_ERR_STATE);
        fx_close(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_graph),    cmocka_unit_test(test_null_node),
        cmocka_unit_test(test_foreign_node),  cmocka_unit_test(test_binary_errors),
        cmocka_unit_test(test_matmul_errors), cmocka_unit_test(test_shape_op_errors),
        cmocka_unit_test(test_reduce_errors), cmocka_unit_test(test_activation_errors),
        cmocka_unit_test(test_loss_errors),   cmocka_unit_test(test_layer_and_source_errors),
        cmocka_unit_test(test_sticky),        cmocka_unit_test(test_label_out_of_range),
    };
    return cmocka_run_group_tests_name("ops_errors", tests, NULL, NULL);
}
