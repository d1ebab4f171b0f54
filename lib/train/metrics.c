/* Classification metrics from an accumulating confusion matrix. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <tiny-dl/metrics.h>

#include "core/context.h"

struct tdl_metrics {
    tdl_ctx *ctx;
    int32_t k;
    int64_t total;
    int64_t *cm; /* k * k counts, row = true class, column = predicted class */
};

TDL_API tdl_status tdl_metrics_create(tdl_ctx *ctx, int32_t num_classes, tdl_metrics **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !out)
        return tdl_fail(ctx, ctx ? ctx->error : NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_metrics_create: %s is NULL", !ctx ? "ctx" : "out");
    if (num_classes < 2 || num_classes > 65536)
        return tdl_fail(ctx, ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_metrics_create: %d classes is outside 2..65536", (int)num_classes);
    tdl_metrics *m = tdl_calloc(ctx, 1, sizeof *m);
    if (!m)
        return tdl_fail(ctx, ctx->error, TDL_ERR_OUT_OF_MEMORY,
                        "tdl_metrics_create: out of memory");
    m->ctx = ctx;
    m->k = num_classes;
    m->cm = tdl_calloc(ctx, (size_t)num_classes * (size_t)num_classes, sizeof(int64_t));
    if (!m->cm) {
        tdl_free(ctx, m);
        return tdl_fail(ctx, ctx->error, TDL_ERR_OUT_OF_MEMORY,
                        "tdl_metrics_create: out of memory for a %d x %d confusion matrix",
                        (int)num_classes, (int)num_classes);
    }
    *out = m;
    return TDL_OK;
}

TDL_API void tdl_metrics_destroy(tdl_metrics *m)
{
    if (!m)
        return;
    tdl_free(m->ctx, m->cm);
    tdl_free(m->ctx, m);
}

TDL_API tdl_status tdl_metrics_reset(tdl_metrics *m)
{
    if (!m)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_metrics_reset: m is NULL");
    memset(m->cm, 0, (size_t)m->k * (size_t)m->k * sizeof(int64_t));
    m->total = 0;
    return TDL_OK;
}

/* Common argument checks of the two update functions. */
static tdl_status check_update(tdl_metrics *m, const char *fn, const void *a, const char *a_name,
                               const int32_t *labels, int64_t n)
{
    if (!m)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "%s: m is NULL", fn);
    if (n < 0)
        return tdl_fail(m->ctx, m->ctx->error, TDL_ERR_INVALID_ARGUMENT, "%s: n is %lld (< 0)", fn,
                        (long long)n);
    if (n > 0 && (!a || !labels))
        return tdl_fail(m->ctx, m->ctx->error, TDL_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                        !a ? a_name : "labels");
    for (int64_t i = 0; i < n; ++i)
        if (labels[i] < 0 || labels[i] >= m->k)
            return tdl_fail(m->ctx, m->ctx->error, TDL_ERR_INVALID_ARGUMENT,
                            "%s: label %lld is %d, outside 0..%d (nothing was counted)", fn,
                            (long long)i, (int)labels[i], (int)m->k - 1);
    return TDL_OK;
}

TDL_API tdl_status tdl_metrics_update_scores(tdl_metrics *m, const float *scores,
                                             const int32_t *labels, int64_t n)
{
    const char *fn = "tdl_metrics_update_scores";
    tdl_status st = check_update(m, fn, scores, "scores", labels, n);
    if (st != TDL_OK)
        return st;
    /* Validate every score before counting anything. */
    size_t k = (size_t)m->k;
    for (int64_t i = 0; i < n; ++i)
        for (size_t c = 0; c < k; ++c)
            if (isnan(scores[(size_t)i * k + c]))
                return tdl_fail(m->ctx, m->ctx->error, TDL_ERR_INVALID_ARGUMENT,
                                "%s: score %zu of row %lld is NaN (nothing was counted)", fn, c,
                                (long long)i);
    for (int64_t i = 0; i < n; ++i) {
        const float *row = scores + (size_t)i * k;
        size_t best = 0;
        for (size_t c = 1; c < k; ++c)
            if (row[c] > row[best])
                best = c;
        m->cm[(size_t)labels[i] * k + best]++;
    }
    m->total += n;
    return TDL_OK;
}

TDL_API tdl_status tdl_metrics_update(tdl_metrics *m, const int32_t *predicted,
                                      const int32_t *labels, int64_t n)
{
    const char *fn = "tdl_metrics_update";
    tdl_status st = check_update(m, fn, predicted, "predicted", labels, n);
    if (st != TDL_OK)
        return st;
    for (int64_t i = 0; i < n; ++i)
        if (predicted[i] < 0 || predicted[i] >= m->k)
            return tdl_fail(m->ctx, m->ctx->error, TDL_ERR_INVALID_ARGUMENT,
                            "%s: prediction %lld is %d, outside 0..%d (nothing was counted)", fn,
                            (long long)i, (int)predicted[i], (int)m->k - 1);
    for (int64_t i = 0; i < n; ++i)
        m->cm[(size_t)labels[i] * (size_t)m->k + (size_t)predicted[i]]++;
    m->total += n;
    return TDL_OK;
}

TDL_API int64_t tdl_metrics_count(const tdl_metrics *m)
{
    return m ? m->total : 0;
}

TDL_API double tdl_metrics_accuracy(const tdl_metrics *m)
{
    if (!m || m->total == 0)
        return 0.0;
    int64_t correct = 0;
    for (size_t c = 0; c < (size_t)m->k; ++c)
        correct += m->cm[c * (size_t)m->k + c];
    return (double)correct / (double)m->total;
}

/* Precision, recall, F1 and support of one class (no argument checks). */
static void class_stats(const tdl_metrics *m, int32_t cls, double *p, double *r, double *f1,
                        int64_t *support)
{
    size_t k = (size_t)m->k, c = (size_t)cls;
    int64_t tp = m->cm[c * k + c], predicted = 0, actual = 0;
    for (size_t j = 0; j < k; ++j) {
        predicted += m->cm[j * k + c];
        actual += m->cm[c * k + j];
    }
    *p = predicted > 0 ? (double)tp / (double)predicted : 0.0;
    *r = actual > 0 ? (double)tp / (double)actual : 0.0;
    *f1 = *p + *r > 0 ? 2.0 * *p * *r / (*p + *r) : 0.0;
    *support = actual;
}

TDL_API tdl_status tdl_metrics_class(const tdl_metrics *m, int32_t cls, double *precision,
                                     double *recall, double *f1)
{
    if (!m)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_metrics_class: m is NULL");
    if (cls < 0 || cls >= m->k)
        return tdl_fail(m->ctx, m->ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_metrics_class: class %d is outside 0..%d", (int)cls, (int)m->k - 1);
    double p, r, f;
    int64_t support;
    class_stats(m, cls, &p, &r, &f, &support);
    if (precision)
        *precision = p;
    if (recall)
        *recall = r;
    if (f1)
        *f1 = f;
    return TDL_OK;
}

TDL_API double tdl_metrics_macro_f1(const tdl_metrics *m)
{
    if (!m)
        return 0.0;
    double sum = 0.0;
    for (int32_t c = 0; c < m->k; ++c) {
        double p, r, f;
        int64_t support;
        class_stats(m, c, &p, &r, &f, &support);
        sum += f;
    }
    return sum / (double)m->k;
}

TDL_API int64_t tdl_metrics_confusion(const tdl_metrics *m, int32_t truth, int32_t predicted)
{
    if (!m || truth < 0 || truth >= m->k || predicted < 0 || predicted >= m->k)
        return 0;
    return m->cm[(size_t)truth * (size_t)m->k + (size_t)predicted];
}

/* snprintf-style appending: counts everything, stores what fits. */
typedef struct sbuf {
    char *buf;
    size_t size;
    size_t len;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sb_printf(sbuf *b, const char *fmt, ...)
{
    char *dst = b->len < b->size ? b->buf + b->len : NULL;
    size_t room = b->len < b->size ? b->size - b->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

/* The display name of a class: the caller's, or its number. */
static const char *class_name(const char *const *names, int32_t c, char tmp[16])
{
    if (names && names[c])
        return names[c];
    snprintf(tmp, 16, "%d", (int)c);
    return tmp;
}

static int digits(int64_t v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        ++d;
    }
    return d;
}

TDL_API tdl_status tdl_metrics_report(const tdl_metrics *m, const char *const *class_names,
                                      char *buf, size_t size, size_t *needed)
{
    if (needed)
        *needed = 0;
    if (!m)
        return tdl_fail(NULL, NULL, TDL_ERR_INVALID_ARGUMENT, "tdl_metrics_report: m is NULL");
    if (!buf && size > 0)
        return tdl_fail(m->ctx, m->ctx->error, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_metrics_report: buf is NULL but size is %zu", size);
    char tmp[16];
    int w = (int)strlen("macro avg");
    for (int32_t c = 0; c < m->k; ++c) {
        size_t len = strlen(class_name(class_names, c, tmp));
        if (len > (size_t)w)
            w = len > 200 ? 200 : (int)len; /* very long names are cut to keep the table */
    }

    sbuf b = {buf, size, 0};
    if (size > 0)
        buf[0] = 0;
    sb_printf(&b, "%-*s  %9s  %9s  %9s  %9s\n", w, "class", "precision", "recall", "f1-score",
              "support");
    double sp = 0.0, sr = 0.0, sf = 0.0;
    for (int32_t c = 0; c < m->k; ++c) {
        double p, r, f;
        int64_t support;
        class_stats(m, c, &p, &r, &f, &support);
        sp += p;
        sr += r;
        sf += f;
        sb_printf(&b, "%-*.*s  %9.4f  %9.4f  %9.4f  %9lld\n", w, w, class_name(class_names, c, tmp),
                  p, r, f, (long long)support);
    }
    sb_printf(&b, "\n%-*s  %9s  %9s  %9.4f  %9lld\n", w, "accuracy", "", "",
              tdl_metrics_accuracy(m), (long long)m->total);
    sb_printf(&b, "%-*s  %9.4f  %9.4f  %9.4f  %9lld\n", w, "macro avg", sp / m->k, sr / m->k,
              sf / m->k, (long long)m->total);

    /* Confusion matrix: columns as wide as the largest count or class number. */
    int64_t mx = m->k - 1;
    for (size_t i = 0; i < (size_t)m->k * (size_t)m->k; ++i)
        if (m->cm[i] > mx)
            mx = m->cm[i];
    int cw = digits(mx);
    sb_printf(&b, "\nconfusion matrix (rows: true class, columns: predicted class)\n");
    sb_printf(&b, "%-*s", w, "");
    for (int32_t c = 0; c < m->k; ++c)
        sb_printf(&b, "  %*d", cw, (int)c);
    sb_printf(&b, "\n");
    for (int32_t t = 0; t < m->k; ++t) {
        sb_printf(&b, "%-*.*s", w, w, class_name(class_names, t, tmp));
        for (int32_t c = 0; c < m->k; ++c)
            sb_printf(&b, "  %*lld", cw, (long long)m->cm[(size_t)t * (size_t)m->k + (size_t)c]);
        sb_printf(&b, "\n");
    }
    if (needed)
        *needed = b.len;
    return TDL_OK;
}
