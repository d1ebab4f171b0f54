/* Context, version, status strings, logging. */
#include "test_util.h"

#include <stdio.h>

#include <string.h>

#include "core/context.h"

static void test_version(void **state)
{
    (void)state;
    assert_int_equal(tdl_version_number(), TDL_VERSION_NUMBER);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", TDL_VERSION_MAJOR, TDL_VERSION_MINOR,
             TDL_VERSION_PATCH);
    assert_string_equal(tdl_version(), want);
    assert_non_null(strstr(tdl_build_info(), "simd="));
    assert_non_null(strstr(tdl_build_info(), want));
}

static void test_status_strings(void **state)
{
    (void)state;
    assert_string_equal(tdl_status_string(TDL_OK), "ok");
    assert_string_equal(tdl_status_string(TDL_ERR_OUT_OF_MEMORY), "out of memory");
    assert_string_equal(tdl_status_string(-999), "unknown status");
    for (int s = TDL_ERR_INTERNAL; s <= TDL_OK; ++s)
        assert_string_not_equal(tdl_status_string(s), "unknown status");
}

static void test_ctx_options(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    assert_int_equal(tdl_ctx_get_threads(ctx), 1);
    assert_int_equal(tdl_ctx_set_threads(ctx, 3), TDL_OK);
    assert_int_equal(tdl_ctx_get_threads(ctx), 3);
    assert_int_equal(tdl_ctx_set_threads(ctx, 0), TDL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(tdl_ctx_error(ctx), "threads"));
    assert_int_equal(tdl_ctx_get_threads(ctx), 3);
    assert_int_equal(tdl_ctx_set_threads(ctx, 1), TDL_OK);
    assert_int_equal(tdl_ctx_set_seed(ctx, 99), TDL_OK);
    assert_int_equal(tdl_ctx_get_seed(ctx), 99);
    assert_int_equal(tdl_ctx_set_log(ctx, NULL, 7, NULL), TDL_ERR_INVALID_ARGUMENT);
    tdl_ctx_destroy(ctx);
}

static void test_null_handles(void **state)
{
    (void)state;
    assert_int_equal(tdl_ctx_create(NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(tdl_last_error(), "tdl_ctx_create"));
    tdl_ctx *ctx = (tdl_ctx *)1;
    assert_int_equal(tdl_ctx_create_with_allocator(&ctx, NULL, NULL, NULL, NULL),
                     TDL_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_int_equal(tdl_ctx_set_threads(NULL, 2), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_ctx_set_seed(NULL, 2), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_ctx_get_threads(NULL), 1);
    assert_string_equal(tdl_ctx_error(NULL), "");
    tdl_ctx_destroy(NULL);
    tdl_graph *g = (tdl_graph *)1;
    assert_int_equal(tdl_graph_create(NULL, &g), TDL_ERR_INVALID_ARGUMENT);
    assert_null(g);
    tdl_graph_destroy(NULL);
    assert_int_equal(tdl_graph_compile(NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_forward(NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_backward(NULL, NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_feed(NULL, NULL, NULL, 0, NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_null(tdl_relu(NULL, NULL));
    assert_null(tdl_param_data(NULL));
    assert_null(tdl_node_data(NULL));
    assert_string_equal(tdl_node_name(NULL), "");
}

typedef struct log_capture {
    int count;
    char last[512];
} log_capture;

static void capture(int32_t level, const char *msg, void *user)
{
    log_capture *c = user;
    (void)level;
    c->count++;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

static void test_log_sink(void **state)
{
    (void)state;
    tdl_ctx *ctx = test_ctx();
    log_capture cap = {0, ""};
    assert_int_equal(tdl_ctx_set_log(ctx, capture, TDL_LOG_ERROR, &cap), TDL_OK);
    assert_int_equal(tdl_ctx_set_threads(ctx, -4), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cap.count, 1);
    assert_non_null(strstr(cap.last, "-4"));
    tdl_ctx_destroy(ctx);
}

static void test_failing_context_creation(void **state)
{
    (void)state;
    test_alloc a;
    assert_null(test_ctx_with_alloc(&a, 1));
    assert_int_equal(a.live, 0);
    assert_non_null(strstr(tdl_last_error(), "out of memory"));
    tdl_ctx *ctx = test_ctx_with_alloc(&a, 0);
    assert_non_null(ctx);
    tdl_ctx_destroy(ctx);
    assert_int_equal(a.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),     cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_ctx_options), cmocka_unit_test(test_null_handles),
        cmocka_unit_test(test_log_sink),    cmocka_unit_test(test_failing_context_creation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
