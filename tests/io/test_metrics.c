/* Classification metrics: hand-computed confusion matrices, invalid input, the report. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <tiny-dl/metrics.h>

static int setup(void **state)
{
    tdl_ctx *ctx;
    if (tdl_ctx_create(&ctx) != TDL_OK)
        return -1;
    *state = ctx;
    return 0;
}

static int teardown(void **state)
{
    tdl_ctx_destroy(*state);
    return 0;
}

static void check_class(tdl_metrics *m, int32_t c, double p, double r, double f)
{
    double gp = -1, gr = -1, gf = -1;
    assert_int_equal(tdl_metrics_class(m, c, &gp, &gr, &gf), TDL_OK);
    assert_true(fabs(gp - p) < 1e-12);
    assert_true(fabs(gr - r) < 1e-12);
    assert_true(fabs(gf - f) < 1e-12);
}

/* labels 0 0 0 1 1 2 2 2 2 1, predictions 0 1 0 1 2 2 2 0 2 1:
 * confusion rows (true) [2 1 0] [0 2 1] [1 0 3]. */
static void test_three_classes(void **state)
{
    tdl_metrics *m;
    assert_int_equal(tdl_metrics_create(*state, 3, &m), TDL_OK);
    const int32_t labels[] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 1};
    const int32_t pred[] = {0, 1, 0, 1, 2, 2, 2, 0, 2, 1};
    /* Two updates add up. */
    assert_int_equal(tdl_metrics_update(m, pred, labels, 4), TDL_OK);
    assert_int_equal(tdl_metrics_update(m, pred + 4, labels + 4, 6), TDL_OK);
    assert_int_equal(tdl_metrics_count(m), 10);
    const int64_t cm[3][3] = {{2, 1, 0}, {0, 2, 1}, {1, 0, 3}};
    for (int t = 0; t < 3; ++t)
        for (int p = 0; p < 3; ++p)
            assert_int_equal(tdl_metrics_confusion(m, t, p), cm[t][p]);
    assert_int_equal(tdl_metrics_confusion(m, 3, 0), 0);
    assert_int_equal(tdl_metrics_confusion(m, 0, -1), 0);
    assert_true(fabs(tdl_metrics_accuracy(m) - 0.7) < 1e-12);
    check_class(m, 0, 2.0 / 3, 2.0 / 3, 2.0 / 3);
    check_class(m, 1, 2.0 / 3, 2.0 / 3, 2.0 / 3);
    check_class(m, 2, 0.75, 0.75, 0.75);
    assert_true(fabs(tdl_metrics_macro_f1(m) - (2.0 / 3 + 2.0 / 3 + 0.75) / 3) < 1e-12);
    /* Outputs may be NULL. */
    double f1 = 0;
    assert_int_equal(tdl_metrics_class(m, 2, NULL, NULL, &f1), TDL_OK);
    assert_true(fabs(f1 - 0.75) < 1e-12);
    assert_int_equal(tdl_metrics_class(m, 3, NULL, NULL, NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_class(m, -1, NULL, NULL, NULL), TDL_ERR_INVALID_ARGUMENT);

    assert_int_equal(tdl_metrics_reset(m), TDL_OK);
    assert_int_equal(tdl_metrics_count(m), 0);
    assert_int_equal(tdl_metrics_confusion(m, 0, 0), 0);
    assert_true(tdl_metrics_accuracy(m) == 0.0);
    tdl_metrics_destroy(m);
}

/* Precision and recall differ: truth 0 0 0 1, predicted 0 1 1 1. */
static void test_precision_recall_differ(void **state)
{
    tdl_metrics *m;
    assert_int_equal(tdl_metrics_create(*state, 2, &m), TDL_OK);
    const int32_t labels[] = {0, 0, 0, 1};
    const int32_t pred[] = {0, 1, 1, 1};
    assert_int_equal(tdl_metrics_update(m, pred, labels, 4), TDL_OK);
    check_class(m, 0, 1.0, 1.0 / 3, 0.5);
    check_class(m, 1, 1.0 / 3, 1.0, 0.5);
    assert_true(fabs(tdl_metrics_accuracy(m) - 0.5) < 1e-12);
    assert_true(fabs(tdl_metrics_macro_f1(m) - 0.5) < 1e-12);
    tdl_metrics_destroy(m);
}

/* A class never seen nor predicted has precision = recall = F1 = 0. */
static void test_undefined_is_zero(void **state)
{
    tdl_metrics *m;
    assert_int_equal(tdl_metrics_create(*state, 3, &m), TDL_OK);
    check_class(m, 0, 0, 0, 0); /* empty */
    assert_true(tdl_metrics_macro_f1(m) == 0.0);
    const int32_t labels[] = {0, 1, 1};
    const int32_t pred[] = {0, 1, 0};
    assert_int_equal(tdl_metrics_update(m, pred, labels, 3), TDL_OK);
    check_class(m, 2, 0, 0, 0);
    check_class(m, 0, 0.5, 1.0, 2.0 / 3);
    check_class(m, 1, 1.0, 0.5, 2.0 / 3);
    assert_true(fabs(tdl_metrics_macro_f1(m) - (4.0 / 3) / 3) < 1e-12);
    tdl_metrics_destroy(m);
}

static void test_scores_first_max(void **state)
{
    tdl_metrics *m;
    assert_int_equal(tdl_metrics_create(*state, 3, &m), TDL_OK);
    const float scores[] = {
        0.1f,      0.9f,      0.9f,      /* tie: the first maximum, class 1 */
        -INFINITY, -INFINITY, -INFINITY, /* all equal: class 0 */
        1.0f,      INFINITY,  2.0f,      /* class 1 */
        3.0f,      -1.0f,     2.0f,      /* class 0 */
    };
    const int32_t labels[] = {1, 2, 1, 2};
    assert_int_equal(tdl_metrics_update_scores(m, scores, labels, 4), TDL_OK);
    assert_int_equal(tdl_metrics_confusion(m, 1, 1), 2);
    assert_int_equal(tdl_metrics_confusion(m, 2, 0), 2);
    assert_int_equal(tdl_metrics_count(m), 4);
    tdl_metrics_destroy(m);
}

static void test_invalid_input_counts_nothing(void **state)
{
    tdl_metrics *m;
    assert_int_equal(tdl_metrics_create(*state, 3, &m), TDL_OK);
    const float scores[] = {0.1f, 0.2f, 0.3f, 0.5f, NAN, 0.1f};
    const int32_t labels[] = {0, 1};
    assert_int_equal(tdl_metrics_update_scores(m, scores, labels, 2), TDL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(tdl_last_error(), "NaN"));
    assert_int_equal(tdl_metrics_count(m), 0);
    assert_int_equal(tdl_metrics_confusion(m, 0, 2), 0);

    const float ok_scores[] = {0.1f, 0.2f, 0.3f, 0.5f, 0.4f, 0.1f};
    const int32_t bad_labels[] = {0, 3};
    assert_int_equal(tdl_metrics_update_scores(m, ok_scores, bad_labels, 2),
                     TDL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(tdl_last_error(), "label 1 is 3"));
    const int32_t neg_labels[] = {-1, 0};
    assert_int_equal(tdl_metrics_update_scores(m, ok_scores, neg_labels, 2),
                     TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_count(m), 0);

    const int32_t pred[] = {0, 3};
    assert_int_equal(tdl_metrics_update(m, pred, labels, 2), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_update(m, labels, bad_labels, 2), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_count(m), 0);
    for (int t = 0; t < 3; ++t)
        for (int p = 0; p < 3; ++p)
            assert_int_equal(tdl_metrics_confusion(m, t, p), 0);

    assert_int_equal(tdl_metrics_update(m, NULL, labels, 2), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_update(m, pred, NULL, 2), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_update(m, pred, labels, -1), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_update(m, NULL, NULL, 0), TDL_OK);
    assert_int_equal(tdl_metrics_update(NULL, pred, labels, 1), TDL_ERR_INVALID_ARGUMENT);
    tdl_metrics_destroy(m);
}

static void test_create_args(void **state)
{
    tdl_metrics *m = (tdl_metrics *)&m;
    assert_int_equal(tdl_metrics_create(*state, 1, &m), TDL_ERR_INVALID_ARGUMENT);
    assert_null(m);
    assert_int_equal(tdl_metrics_create(*state, 65537, &m), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_create(NULL, 3, &m), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_create(*state, 3, NULL), TDL_ERR_INVALID_ARGUMENT);
    tdl_metrics_destroy(NULL);
    assert_int_equal(tdl_metrics_count(NULL), 0);
    assert_true(tdl_metrics_accuracy(NULL) == 0.0);
    assert_int_equal(tdl_metrics_reset(NULL), TDL_ERR_INVALID_ARGUMENT);
}

static void test_report(void **state)
{
    tdl_metrics *m;
    assert_int_equal(tdl_metrics_create(*state, 3, &m), TDL_OK);
    const int32_t labels[] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 1};
    const int32_t pred[] = {0, 1, 0, 1, 2, 2, 2, 0, 2, 1};
    assert_int_equal(tdl_metrics_update(m, pred, labels, 10), TDL_OK);

    size_t needed = 0;
    assert_int_equal(tdl_metrics_report(m, NULL, NULL, 0, &needed), TDL_OK);
    assert_true(needed > 100);
    char full[4096];
    size_t needed2 = 0;
    assert_int_equal(tdl_metrics_report(m, NULL, full, sizeof full, &needed2), TDL_OK);
    assert_int_equal(needed2, needed);
    assert_int_equal(strlen(full), needed);
    /* One line per class, aligned: every class row has the same length. */
    assert_non_null(strstr(full, "precision"));
    assert_non_null(strstr(full, "2             0.7500     0.7500     0.7500          4\n"));
    assert_non_null(strstr(full, "accuracy                            0.7000         10\n"));
    assert_non_null(strstr(full, "confusion matrix"));
    assert_non_null(strstr(full, "\n0          2  1  0\n1          0  2  1\n2          1  0  3\n"));

    /* Truncation: the prefix that fits, NUL-terminated. */
    char small[40];
    memset(small, 'x', sizeof small);
    assert_int_equal(tdl_metrics_report(m, NULL, small, sizeof small, &needed2), TDL_OK);
    assert_int_equal(needed2, needed);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, full, sizeof small - 1);

    /* Class names widen the first column. */
    const char *names[] = {"T-shirt/top", "Trouser", NULL};
    assert_int_equal(tdl_metrics_report(m, names, full, sizeof full, &needed2), TDL_OK);
    assert_int_equal(strlen(full), needed2);
    assert_non_null(strstr(full, "T-shirt/top     0.6667     0.6667     0.6667          3\n"));
    assert_non_null(strstr(full, "Trouser         0.6667"));
    assert_non_null(strstr(full, "\n2               0.7500"));
    assert_non_null(strstr(full, "macro avg       0.6944     0.6944     0.6944         10\n"));

    assert_int_equal(tdl_metrics_report(m, NULL, NULL, 10, NULL), TDL_ERR_INVALID_ARGUMENT);
    assert_int_equal(tdl_metrics_report(NULL, NULL, full, sizeof full, NULL),
                     TDL_ERR_INVALID_ARGUMENT);
    tdl_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_three_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precision_recall_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undefined_is_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scores_first_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_input_counts_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
