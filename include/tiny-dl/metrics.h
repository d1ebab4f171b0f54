/**
 * @file metrics.h
 * @brief Classification metrics: accuracy, per-class precision / recall / F1, confusion matrix.
 */
#ifndef TINY_DL_METRICS_H
#define TINY_DL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <tiny-dl/core.h>
#include <tiny-dl/export.h>

TDL_BEGIN_DECLS

/** An accumulating confusion matrix. Opaque. */
typedef struct tdl_metrics tdl_metrics;

/**
 * @brief Creates an empty confusion matrix for `num_classes` classes (2..65536).
 */
TDL_API tdl_status tdl_metrics_create(tdl_ctx *ctx, int32_t num_classes, tdl_metrics **out);

/** @brief Destroys it. NULL is ignored. */
TDL_API void tdl_metrics_destroy(tdl_metrics *m);

/** @brief Clears the counts. */
TDL_API tdl_status tdl_metrics_reset(tdl_metrics *m);

/**
 * @brief Adds n predictions given as scores (row i: num_classes floats; the
 *        prediction is the first maximum) with their true labels.
 * @return TDL_OK, TDL_ERR_INVALID_ARGUMENT (a label outside [0, num_classes), or
 *         a NaN score; nothing is counted then).
 */
TDL_API tdl_status tdl_metrics_update_scores(tdl_metrics *m, const float *scores,
                                             const int32_t *labels, int64_t n);

/** @brief Adds n predicted class ids with their true labels; both checked as above. */
TDL_API tdl_status tdl_metrics_update(tdl_metrics *m, const int32_t *predicted,
                                      const int32_t *labels, int64_t n);

/** @brief Samples counted. */
TDL_API int64_t tdl_metrics_count(const tdl_metrics *m);

/** @brief Fraction of correct predictions (0 when empty). */
TDL_API double tdl_metrics_accuracy(const tdl_metrics *m);

/**
 * @brief Precision, recall and F1 of one class (0 where undefined). Outputs may be NULL.
 */
TDL_API tdl_status tdl_metrics_class(const tdl_metrics *m, int32_t cls, double *precision,
                                     double *recall, double *f1);

/** @brief Unweighted mean of the per-class F1. */
TDL_API double tdl_metrics_macro_f1(const tdl_metrics *m);

/** @brief Count of samples of true class `truth` predicted as `predicted` (0 out of range). */
TDL_API int64_t tdl_metrics_confusion(const tdl_metrics *m, int32_t truth, int32_t predicted);

/**
 * @brief A text report: per-class precision/recall/F1/support, accuracy, macro F1,
 *        and the confusion matrix. snprintf semantics.
 * @param class_names num_classes names, or NULL for numbers.
 * @param[out] needed Length without the NUL (may be NULL).
 */
TDL_API tdl_status tdl_metrics_report(const tdl_metrics *m, const char *const *class_names,
                                      char *buf, size_t size, size_t *needed);

TDL_END_DECLS

#endif /* TINY_DL_METRICS_H */
