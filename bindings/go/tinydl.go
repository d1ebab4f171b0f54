// Package tinydl is the Go binding of tiny-dl, a small C library to build,
// train and run neural networks (see docs/bindings-go.md in its source tree).
//
// It links libtiny-dl through cgo and pkg-config (`pkg-config --cflags --libs
// tiny-dl` must work; set PKG_CONFIG_PATH for a non-standard prefix).
//
// Ownership:
//
//   - Every handle (Context, Graph, Optimizer, Dataset, Batcher, Metrics) has
//     an explicit Close; a finalizer calls it as a fallback when a handle is
//     garbage collected. Close a parent only after its children (a Graph after
//     its Optimizers, a Context after its Graphs, Datasets and Metrics): Close
//     on a parent with open children returns an error and frees nothing.
//   - Fed data is copied into C memory (C.malloc) that the Graph owns, two
//     buffers per input, reused from one feed to the next, freed by Close. The
//     C library keeps the fed pointer for later runs, which cgo forbids for Go
//     memory, so a Go slice is never handed to it beyond one call.
//   - Values come back as Go slices copied out of the library.
//
// Builders (Input, Dense, Relu, ...) follow the C API's sticky errors: a
// failing builder returns nil and the graph remembers the first error; later
// builders return nil; Compile (or Err) reports it.
//
// A Context and everything made from it must be used by one goroutine at a
// time.
package tinydl

/*
#cgo pkg-config: tiny-dl
#include <stdlib.h>
#include <tiny-dl/tiny-dl.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Status is a tiny-dl status code (0 = OK, negative = error). A Status is an
// error value so that errors.Is(err, tinydl.ErrShape) works.
type Status int32

// Status codes (enum tdl_status_code).
const (
	OK                 Status = C.TDL_OK
	ErrInvalidArgument Status = C.TDL_ERR_INVALID_ARGUMENT
	ErrShape           Status = C.TDL_ERR_SHAPE
	ErrDtype           Status = C.TDL_ERR_DTYPE
	ErrOutOfMemory     Status = C.TDL_ERR_OUT_OF_MEMORY
	ErrIO              Status = C.TDL_ERR_IO
	ErrFormat          Status = C.TDL_ERR_FORMAT
	ErrNotFound        Status = C.TDL_ERR_NOT_FOUND
	ErrState           Status = C.TDL_ERR_STATE
	ErrNonFinite       Status = C.TDL_ERR_NON_FINITE
	ErrUnsupported     Status = C.TDL_ERR_UNSUPPORTED
	ErrInternal        Status = C.TDL_ERR_INTERNAL
)

// Error returns the status's English name ("shape mismatch", ...).
func (s Status) Error() string { return StatusString(s) }

// Error is a failed call: the status and the library's message, which names
// the op, the node and the shapes involved.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return StatusString(e.Status)
	}
	return fmt.Sprintf("%s (%s)", e.Message, StatusString(e.Status))
}

// Is reports whether target is this error's Status (errors.Is(err, tinydl.ErrShape)).
func (e *Error) Is(target error) bool {
	if s, ok := target.(Status); ok {
		return e.Status == s
	}
	return false
}

func newError(s Status, format string, args ...interface{}) error {
	return &Error{Status: s, Message: fmt.Sprintf(format, args...)}
}

// call runs f on a locked OS thread so that tdl_last_error (thread-local in C)
// is read on the thread that failed.
func call(f func() C.tdl_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st == C.TDL_OK {
		return nil
	}
	return &Error{Status: Status(st), Message: C.GoString(C.tdl_last_error())}
}

// Batch is the symbolic batch dimension in Input shapes.
const Batch int64 = C.TDL_BATCH

// MaxDims is the most dimensions a tensor may have.
const MaxDims = C.TDL_MAX_DIMS

// PadSame is the "same" padding of convolutions.
const PadSame int32 = C.TDL_PAD_SAME

// DType is an element type.
type DType int32

// Element types.
const (
	F32 DType = C.TDL_F32
	I32 DType = C.TDL_I32
)

func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case I32:
		return "i32"
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Init is a parameter initialiser (enum tdl_init).
type Init int32

// Initialisers.
const (
	InitZeros         Init = C.TDL_INIT_ZEROS
	InitConstant      Init = C.TDL_INIT_CONSTANT
	InitUniform       Init = C.TDL_INIT_UNIFORM
	InitNormal        Init = C.TDL_INIT_NORMAL
	InitXavierUniform Init = C.TDL_INIT_XAVIER_UNIFORM
	InitXavierNormal  Init = C.TDL_INIT_XAVIER_NORMAL
	InitHeUniform     Init = C.TDL_INIT_HE_UNIFORM
	InitHeNormal      Init = C.TDL_INIT_HE_NORMAL
)

// Version is the library's version, e.g. "0.1.0".
func Version() string { return C.GoString(C.tdl_version()) }

// VersionNumber is major*10000 + minor*100 + patch.
func VersionNumber() uint32 { return uint32(C.tdl_version_number()) }

// BuildInfo says how the library was built (SIMD set, zlib, compiler).
func BuildInfo() string { return C.GoString(C.tdl_build_info()) }

// StatusString is the English name of a status code.
func StatusString(s Status) string { return C.GoString(C.tdl_status_string(C.tdl_status(s))) }

// LastError is the message of the last error on the calling OS thread; only
// meaningful inside runtime.LockOSThread (every call of this package already
// returns its message in its error).
func LastError() string { return C.GoString(C.tdl_last_error()) }

// refs counts the open children of a handle (so that a parent is not freed
// before them) without pointing at them (which would keep them from being
// finalized).
type refs struct {
	mu sync.Mutex
	n  int
}

func (r *refs) add(d int) {
	r.mu.Lock()
	r.n += d
	r.mu.Unlock()
}

func (r *refs) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Context holds the thread pool, the seed and the allocator; everything else is made from one.
type Context struct {
	raw      *C.tdl_ctx
	children refs
	log      cgo.Handle // the Go log sink (0: none)
}

// NewContext creates a context (1 thread, seed 0).
func NewContext() (*Context, error) {
	var raw *C.tdl_ctx
	if err := call(func() C.tdl_status { return C.tdl_ctx_create(&raw) }); err != nil {
		return nil, err
	}
	c := &Context{raw: raw}
	runtime.SetFinalizer(c, func(c *Context) { c.Close() })
	return c, nil
}

var errClosed = func(what string) error { return newError(ErrInvalidArgument, "%s is closed", what) }

func (c *Context) ptr() (*C.tdl_ctx, error) {
	if c == nil || c.raw == nil {
		return nil, errClosed("context")
	}
	return c.raw, nil
}

// Close frees the context. It fails (and frees nothing) while graphs,
// datasets or metrics made from it are open. Closing twice is a no-op.
func (c *Context) Close() error {
	if c == nil || c.raw == nil {
		return nil
	}
	if n := c.children.count(); n > 0 {
		return newError(ErrState, "context: %d graph(s), dataset(s) or metrics still open; close them first", n)
	}
	C.tdl_ctx_destroy(c.raw)
	c.raw = nil
	if c.log != 0 {
		c.log.Delete()
		c.log = 0
	}
	runtime.SetFinalizer(c, nil)
	return nil
}

// SetThreads sets how many threads kernels use (1..256); results do not depend on it.
func (c *Context) SetThreads(n int) error {
	raw, err := c.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	return call(func() C.tdl_status { return C.tdl_ctx_set_threads(raw, C.int32_t(n)) })
}

// Threads is the thread count.
func (c *Context) Threads() int {
	raw, err := c.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(c)
	return int(C.tdl_ctx_get_threads(raw))
}

// SetSeed sets the seed of every random stream; set it before building a graph.
func (c *Context) SetSeed(seed uint64) error {
	raw, err := c.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	return call(func() C.tdl_status { return C.tdl_ctx_set_seed(raw, C.uint64_t(seed)) })
}

// Seed is the context's seed.
func (c *Context) Seed() uint64 {
	raw, err := c.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(c)
	return uint64(C.tdl_ctx_get_seed(raw))
}

// Err is the message of the last error on this context ("" if none).
func (c *Context) Err() string {
	raw, err := c.ptr()
	if err != nil {
		return ""
	}
	defer runtime.KeepAlive(c)
	return C.GoString(C.tdl_ctx_error(raw))
}

// cstring returns a C copy of s, to be freed with C.free; an error if s holds a NUL.
func cstring(what, s string) (*C.char, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, newError(ErrInvalidArgument, "%s %q contains a NUL byte", what, s)
		}
	}
	return C.CString(s), nil
}

func cfree(p *C.char) {
	if p != nil {
		C.free(unsafe.Pointer(p))
	}
}

func int64Ptr(s []int64) *C.int64_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&s[0]))
}

func int32Ptr(s []int32) *C.int32_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int32_t)(unsafe.Pointer(&s[0]))
}

// numel is the element count of a shape whose sizes are all >= 1; false if
// one is not or the count overflows.
func numel(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 1 || n > (1<<62)/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

func boolInt(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}
