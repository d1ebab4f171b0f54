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

// Dataset is a labelled dataset in memory (float samples, int32 labels).
type Dataset struct {
	raw      *C.tdl_dataset
	ctx      *Context
	children refs
}

func newDataset(ctx *Context, create func(c *C.tdl_ctx, out **C.tdl_dataset) C.tdl_status) (*Dataset, error) {
	craw, err := ctx.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(ctx)
	var raw *C.tdl_dataset
	if err := call(func() C.tdl_status { return create(craw, &raw) }); err != nil {
		return nil, err
	}
	ds := &Dataset{raw: raw, ctx: ctx}
	ctx.children.add(1)
	runtime.SetFinalizer(ds, func(d *Dataset) { d.Close() })
	return ds, nil
}

// LoadIDX loads an IDX images file and an IDX labels file (".gz" is read
// directly in zlib builds); pixels become floats in [0, 1].
func LoadIDX(ctx *Context, images, labels string) (*Dataset, error) {
	ci, err := cstring("path", images)
	if err != nil {
		return nil, err
	}
	defer cfree(ci)
	cl, err := cstring("path", labels)
	if err != nil {
		return nil, err
	}
	defer cfree(cl)
	return newDataset(ctx, func(c *C.tdl_ctx, out **C.tdl_dataset) C.tdl_status {
		return C.tdl_dataset_load_idx(c, ci, cl, out)
	})
}

// DatasetFromArrays makes a dataset holding copies of x (len(y) samples of
// sampleShape) and y (labels >= 0).
func DatasetFromArrays(ctx *Context, x []float32, y []int32, sampleShape ...int64) (*Dataset, error) {
	per, ok := numel(sampleShape)
	if !ok || len(sampleShape) == 0 || len(y) == 0 || int64(len(x))%per != 0 || int64(len(x))/per != int64(len(y)) {
		return nil, newError(ErrShape, "dataset: %d floats for %d samples of shape %v", len(x), len(y), sampleShape)
	}
	return newDataset(ctx, func(c *C.tdl_ctx, out **C.tdl_dataset) C.tdl_status {
		return C.tdl_dataset_from_arrays(c, (*C.float)(unsafe.Pointer(&x[0])), (*C.int32_t)(unsafe.Pointer(&y[0])),
			C.int64_t(len(y)), C.int32_t(len(sampleShape)), int64Ptr(sampleShape), out)
	})
}

// Close frees the dataset; it fails while batchers over it are open.
func (d *Dataset) Close() error {
	if d == nil || d.raw == nil {
		return nil
	}
	if n := d.children.count(); n > 0 {
		return newError(ErrState, "dataset: %d batcher(s) still open; close them first", n)
	}
	C.tdl_dataset_destroy(d.raw)
	d.raw = nil
	d.ctx.children.add(-1)
	runtime.SetFinalizer(d, nil)
	return nil
}

func (d *Dataset) ptr() (*C.tdl_dataset, error) {
	if d == nil || d.raw == nil {
		return nil, errClosed("dataset")
	}
	return d.raw, nil
}

// Len is the number of samples.
func (d *Dataset) Len() int {
	raw, err := d.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(d)
	return int(C.tdl_dataset_size(raw))
}

// SampleSize is the number of floats per sample.
func (d *Dataset) SampleSize() int {
	raw, err := d.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(d)
	return int(C.tdl_dataset_sample_size(raw))
}

// SampleShape is the shape of one sample.
func (d *Dataset) SampleShape() []int64 {
	raw, err := d.ptr()
	if err != nil {
		return nil
	}
	defer runtime.KeepAlive(d)
	var ndim C.int32_t
	var dims [MaxDims]C.int64_t
	if call(func() C.tdl_status { return C.tdl_dataset_sample_shape(raw, &ndim, &dims[0]) }) != nil {
		return nil
	}
	out := make([]int64, int(ndim))
	for i := range out {
		out[i] = int64(dims[i])
	}
	return out
}

// NumClasses is the largest label + 1.
func (d *Dataset) NumClasses() int {
	raw, err := d.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(d)
	return int(C.tdl_dataset_num_classes(raw))
}

// X is a copy of every sample (row-major).
func (d *Dataset) X() []float32 {
	raw, err := d.ptr()
	if err != nil {
		return nil
	}
	defer runtime.KeepAlive(d)
	n := d.Len() * d.SampleSize()
	p := C.tdl_dataset_x(raw)
	if p == nil || n == 0 {
		return []float32{}
	}
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(p)), n)...)
}

// Y is a copy of every label.
func (d *Dataset) Y() []int32 {
	raw, err := d.ptr()
	if err != nil {
		return nil
	}
	defer runtime.KeepAlive(d)
	n := d.Len()
	p := C.tdl_dataset_y(raw)
	if p == nil || n == 0 {
		return []int32{}
	}
	return append([]int32(nil), unsafe.Slice((*int32)(unsafe.Pointer(p)), n)...)
}

// Truncate keeps the first n samples (1 <= n <= Len).
func (d *Dataset) Truncate(n int) error {
	raw, err := d.ptr()
	if err != nil {
		return err
	}
	if d.children.count() > 0 {
		return newError(ErrState, "dataset: cannot truncate while batchers are open")
	}
	defer runtime.KeepAlive(d)
	return call(func() C.tdl_status { return C.tdl_dataset_truncate(raw, C.int64_t(n)) })
}

// Batcher iterates over mini-batches of a dataset.
type Batcher struct {
	raw    *C.tdl_batcher
	ds     *Dataset
	sample int
	x      []float32
	y      []int32
}

// NewBatcher creates a mini-batch iterator (a new permutation each epoch when shuffle).
func (d *Dataset) NewBatcher(batchSize int, shuffle bool, seed uint64) (*Batcher, error) {
	raw, err := d.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(d)
	var b *C.tdl_batcher
	err = call(func() C.tdl_status {
		return C.tdl_batcher_create(raw, C.int64_t(batchSize), boolInt(shuffle), C.uint64_t(seed), &b)
	})
	if err != nil {
		return nil, err
	}
	it := &Batcher{raw: b, ds: d, sample: d.SampleSize()}
	d.children.add(1)
	runtime.SetFinalizer(it, func(b *Batcher) { b.Close() })
	return it, nil
}

// Close frees the iterator.
func (b *Batcher) Close() error {
	if b == nil || b.raw == nil {
		return nil
	}
	C.tdl_batcher_destroy(b.raw)
	b.raw = nil
	b.ds.children.add(-1)
	runtime.SetFinalizer(b, nil)
	return nil
}

// Next is the next batch of the epoch: n samples (0 at the end of the epoch,
// then call Reset). x and y are copies held by the batcher and overwritten by
// its next call.
func (b *Batcher) Next() (x []float32, y []int32, n int, err error) {
	if b == nil || b.raw == nil {
		return nil, nil, 0, errClosed("batcher")
	}
	defer runtime.KeepAlive(b)
	var px *C.float
	var py *C.int32_t
	var cn C.int64_t
	if err := call(func() C.tdl_status { return C.tdl_batcher_next(b.raw, &px, &py, &cn) }); err != nil {
		return nil, nil, 0, err
	}
	n = int(cn)
	if n <= 0 || px == nil || py == nil {
		return nil, nil, 0, nil
	}
	b.x = append(b.x[:0], unsafe.Slice((*float32)(unsafe.Pointer(px)), n*b.sample)...)
	b.y = append(b.y[:0], unsafe.Slice((*int32)(unsafe.Pointer(py)), n)...)
	return b.x, b.y, n, nil
}

// Reset starts the next epoch (re-shuffling when enabled).
func (b *Batcher) Reset() error {
	if b == nil || b.raw == nil {
		return errClosed("batcher")
	}
	defer runtime.KeepAlive(b)
	return call(func() C.tdl_status { return C.tdl_batcher_reset(b.raw) })
}

// NumBatches is the number of batches per epoch.
func (b *Batcher) NumBatches() int {
	if b == nil || b.raw == nil {
		return 0
	}
	defer runtime.KeepAlive(b)
	return int(C.tdl_batcher_num_batches(b.raw))
}

func checkNCHW(x []float32, dims ...int64) error {
	total, ok := numel(dims)
	if !ok {
		return newError(ErrInvalidArgument, "sizes %v must be >= 1", dims)
	}
	if total != int64(len(x)) {
		return newError(ErrShape, "%d floats for a batch of shape %v", len(x), dims)
	}
	return nil
}

// AugmentFlip flips NCHW images horizontally in place, sample i with
// probability p decided by (seed, counter + i).
func AugmentFlip(x []float32, n, c, h, w int64, p float32, seed, counter uint64) error {
	if err := checkNCHW(x, n, c, h, w); err != nil {
		return err
	}
	return call(func() C.tdl_status {
		return C.tdl_augment_flip((*C.float)(unsafe.Pointer(&x[0])), C.int64_t(n), C.int64_t(c), C.int64_t(h),
			C.int64_t(w), C.float(p), C.uint64_t(seed), C.uint64_t(counter))
	})
}

// AugmentTranslate shifts NCHW images in place by up to maxShift pixels, filling with fill.
func AugmentTranslate(x []float32, n, c, h, w int64, maxShift int32, fill float32, seed, counter uint64) error {
	if err := checkNCHW(x, n, c, h, w); err != nil {
		return err
	}
	return call(func() C.tdl_status {
		return C.tdl_augment_translate((*C.float)(unsafe.Pointer(&x[0])), C.int64_t(n), C.int64_t(c), C.int64_t(h),
			C.int64_t(w), C.int32_t(maxShift), C.float(fill), C.uint64_t(seed), C.uint64_t(counter))
	})
}

// NormalizeChannels computes x = (x - mean[ch]) / std[ch] in place for n samples
// of len(mean) channels of spatial values.
func NormalizeChannels(x []float32, n, spatial int64, mean, std []float32) error {
	if len(mean) != len(std) || len(mean) == 0 {
		return newError(ErrInvalidArgument, "normalize: %d means and %d deviations", len(mean), len(std))
	}
	c := int64(len(mean))
	if err := checkNCHW(x, n, c, spatial); err != nil {
		return err
	}
	return call(func() C.tdl_status {
		return C.tdl_normalize_channels((*C.float)(unsafe.Pointer(&x[0])), C.int64_t(n), C.int64_t(c),
			C.int64_t(spatial), (*C.float)(unsafe.Pointer(&mean[0])), (*C.float)(unsafe.Pointer(&std[0])))
	})
}
