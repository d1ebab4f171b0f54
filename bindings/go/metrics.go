package tinydl

/*
#include <stdlib.h>
#include <tiny-dl/tiny-dl.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Metrics is an accumulating confusion matrix.
type Metrics struct {
	raw     *C.tdl_metrics
	ctx     *Context
	classes int
}

// NewMetrics creates an empty confusion matrix for numClasses classes (2..65536).
func NewMetrics(ctx *Context, numClasses int) (*Metrics, error) {
	craw, err := ctx.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(ctx)
	var raw *C.tdl_metrics
	if err := call(func() C.tdl_status { return C.tdl_metrics_create(craw, C.int32_t(numClasses), &raw) }); err != nil {
		return nil, err
	}
	m := &Metrics{raw: raw, ctx: ctx, classes: numClasses}
	ctx.children.add(1)
	runtime.SetFinalizer(m, func(m *Metrics) { m.Close() })
	return m, nil
}

// Close frees the metrics.
func (m *Metrics) Close() error {
	if m == nil || m.raw == nil {
		return nil
	}
	C.tdl_metrics_destroy(m.raw)
	m.raw = nil
	m.ctx.children.add(-1)
	runtime.SetFinalizer(m, nil)
	return nil
}

func (m *Metrics) ptr() (*C.tdl_metrics, error) {
	if m == nil || m.raw == nil {
		return nil, errClosed("metrics")
	}
	return m.raw, nil
}

// Reset clears the counts.
func (m *Metrics) Reset() error {
	raw, err := m.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(m)
	return call(func() C.tdl_status { return C.tdl_metrics_reset(raw) })
}

// UpdateScores adds predictions given as scores (len(labels) rows of NumClasses floats).
func (m *Metrics) UpdateScores(scores []float32, labels []int32) error {
	raw, err := m.ptr()
	if err != nil {
		return err
	}
	if len(scores) != len(labels)*m.classes {
		return newError(ErrShape, "metrics: %d scores for %d labels of %d classes", len(scores), len(labels), m.classes)
	}
	if len(labels) == 0 {
		return nil
	}
	defer runtime.KeepAlive(m)
	return call(func() C.tdl_status {
		return C.tdl_metrics_update_scores(raw, (*C.float)(unsafe.Pointer(&scores[0])),
			(*C.int32_t)(unsafe.Pointer(&labels[0])), C.int64_t(len(labels)))
	})
}

// Update adds predicted class ids with their labels.
func (m *Metrics) Update(predicted, labels []int32) error {
	raw, err := m.ptr()
	if err != nil {
		return err
	}
	if len(predicted) != len(labels) {
		return newError(ErrShape, "metrics: %d predictions for %d labels", len(predicted), len(labels))
	}
	if len(labels) == 0 {
		return nil
	}
	defer runtime.KeepAlive(m)
	return call(func() C.tdl_status {
		return C.tdl_metrics_update(raw, (*C.int32_t)(unsafe.Pointer(&predicted[0])),
			(*C.int32_t)(unsafe.Pointer(&labels[0])), C.int64_t(len(labels)))
	})
}

// NumClasses is the number of classes.
func (m *Metrics) NumClasses() int { return m.classes }

// Count is the number of samples counted.
func (m *Metrics) Count() int64 {
	raw, err := m.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(m)
	return int64(C.tdl_metrics_count(raw))
}

// Accuracy is the fraction of correct predictions (0 when empty).
func (m *Metrics) Accuracy() float64 {
	raw, err := m.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(m)
	return float64(C.tdl_metrics_accuracy(raw))
}

// Class returns the precision, recall and F1 of class cls.
func (m *Metrics) Class(cls int) (precision, recall, f1 float64, err error) {
	raw, err := m.ptr()
	if err != nil {
		return 0, 0, 0, err
	}
	defer runtime.KeepAlive(m)
	var p, r, f C.double
	err = call(func() C.tdl_status { return C.tdl_metrics_class(raw, C.int32_t(cls), &p, &r, &f) })
	return float64(p), float64(r), float64(f), err
}

// MacroF1 is the unweighted mean of the per-class F1.
func (m *Metrics) MacroF1() float64 {
	raw, err := m.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(m)
	return float64(C.tdl_metrics_macro_f1(raw))
}

// Confusion is the number of samples of class truth predicted as predicted.
func (m *Metrics) Confusion(truth, predicted int) int64 {
	raw, err := m.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(m)
	return int64(C.tdl_metrics_confusion(raw, C.int32_t(truth), C.int32_t(predicted)))
}

// Report is a text report; classNames may be nil (numbers) or hold NumClasses names.
func (m *Metrics) Report(classNames []string) (string, error) {
	raw, err := m.ptr()
	if err != nil {
		return "", err
	}
	var names **C.char
	if classNames != nil {
		if len(classNames) != m.classes {
			return "", newError(ErrInvalidArgument, "report: %d names for %d classes", len(classNames), m.classes)
		}
		arr := (*[1 << 20]*C.char)(C.malloc(C.size_t(len(classNames)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		defer C.free(unsafe.Pointer(arr))
		for i, n := range classNames {
			c, err := cstring("class name", n)
			if err != nil {
				for j := 0; j < i; j++ {
					cfree(arr[j])
				}
				return "", err
			}
			arr[i] = c
		}
		defer func() {
			for i := range classNames {
				cfree(arr[i])
			}
		}()
		names = &arr[0]
	}
	defer runtime.KeepAlive(m)
	var needed C.size_t
	if err := call(func() C.tdl_status { return C.tdl_metrics_report(raw, names, nil, 0, &needed) }); err != nil {
		return "", err
	}
	buf := (*C.char)(C.malloc(needed + 1))
	defer C.free(unsafe.Pointer(buf))
	if err := call(func() C.tdl_status { return C.tdl_metrics_report(raw, names, buf, needed+1, &needed) }); err != nil {
		return "", err
	}
	return C.GoString(buf), nil
}
