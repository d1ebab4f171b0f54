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

// feedSlot is the C memory an input was fed with: cur is what the library
// reads now; spare receives the next copy (the library keeps reading cur until
// a new feed succeeds).
type feedSlot struct {
	cur, spare       unsafe.Pointer
	curCap, spareCap int
}

// Graph is a computation graph: build it with the builders, Compile it, then
// Feed, Forward, Backward and step an Optimizer.
type Graph struct {
	raw      *C.tdl_graph
	ctx      *Context
	feeds    map[*C.tdl_node]*feedSlot
	err      error // first builder error seen by this wrapper (sticky)
	children refs
}

// Node is a node of a graph; it keeps its graph reachable and is only valid while the graph is open.
type Node struct {
	raw *C.tdl_node
	g   *Graph
}

// NewGraph creates an empty graph from ctx.
func NewGraph(ctx *Context) (*Graph, error) {
	craw, err := ctx.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(ctx)
	var raw *C.tdl_graph
	if err := call(func() C.tdl_status { return C.tdl_graph_create(craw, &raw) }); err != nil {
		return nil, err
	}
	g := &Graph{raw: raw, ctx: ctx, feeds: map[*C.tdl_node]*feedSlot{}}
	ctx.children.add(1)
	runtime.SetFinalizer(g, func(g *Graph) { g.Close() })
	return g, nil
}

// Close frees the graph, its nodes and the fed copies. It fails while
// optimizers of the graph are open. Closing twice is a no-op.
func (g *Graph) Close() error {
	if g == nil || g.raw == nil {
		return nil
	}
	if n := g.children.count(); n > 0 {
		return newError(ErrState, "graph: %d optimizer(s) still open; close them first", n)
	}
	C.tdl_graph_destroy(g.raw)
	g.raw = nil
	for _, s := range g.feeds {
		C.free(s.cur)
		C.free(s.spare)
	}
	g.feeds = nil
	g.ctx.children.add(-1)
	runtime.SetFinalizer(g, nil)
	return nil
}

func (g *Graph) ptr() (*C.tdl_graph, error) {
	if g == nil || g.raw == nil {
		return nil, errClosed("graph")
	}
	return g.raw, nil
}

// own checks that n is a live node of g.
func (g *Graph) own(n *Node) error {
	if _, err := g.ptr(); err != nil {
		return err
	}
	if n == nil || n.raw == nil {
		return newError(ErrInvalidArgument, "nil node")
	}
	if n.g != g {
		return newError(ErrInvalidArgument, "node '%s' belongs to another graph", n.Name())
	}
	return nil
}

// fail records the first builder error and returns nil (the sticky convention).
func (g *Graph) fail(err error) *Node {
	if g != nil && g.err == nil {
		g.err = err
	}
	return nil
}

// build runs a builder after checking its node arguments; a NULL result
// records the graph's sticky error.
func (g *Graph) build(args []*Node, f func(raw *C.tdl_graph) *C.tdl_node) *Node {
	if g == nil {
		return nil
	}
	if g.err != nil {
		return nil
	}
	for _, a := range args {
		if err := g.own(a); err != nil {
			return g.fail(err)
		}
	}
	defer runtime.KeepAlive(g)
	var node *C.tdl_node
	var msg string
	var st C.tdl_status
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		node = f(g.raw)
		if node == nil {
			st = C.tdl_graph_status(g.raw)
			msg = C.GoString(C.tdl_graph_error(g.raw))
		}
	}()
	if node == nil {
		if st == C.TDL_OK {
			st = C.TDL_ERR_INTERNAL
		}
		return g.fail(&Error{Status: Status(st), Message: msg})
	}
	return &Node{raw: node, g: g}
}

// Err is the first builder error (nil if none).
func (g *Graph) Err() error {
	if g.err != nil {
		return g.err
	}
	raw, err := g.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(g)
	if st := C.tdl_graph_status(raw); st != C.TDL_OK {
		return &Error{Status: Status(st), Message: C.GoString(C.tdl_graph_error(raw))}
	}
	return nil
}

// Compile verifies the graph and plans its memory; it returns the first builder error if any.
func (g *Graph) Compile() error {
	if g.err != nil {
		return g.err
	}
	raw, err := g.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(g)
	st := C.tdl_graph_compile(raw)
	if st != C.TDL_OK {
		return &Error{Status: Status(st), Message: C.GoString(C.tdl_graph_error(raw))}
	}
	return nil
}

// SetTraining switches training (true, the default) or eval behaviour.
func (g *Graph) SetTraining(training bool) error {
	raw, err := g.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(g)
	return call(func() C.tdl_status { return C.tdl_graph_set_training(raw, boolInt(training)) })
}

// SetCheckFinite makes runs fail with ErrNonFinite at the first NaN or infinity.
func (g *Graph) SetCheckFinite(enable bool) error {
	raw, err := g.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(g)
	return call(func() C.tdl_status { return C.tdl_graph_set_check_finite(raw, boolInt(enable)) })
}

func (g *Graph) feed(input *Node, src unsafe.Pointer, n int, dtype DType, shape []int64) error {
	if err := g.own(input); err != nil {
		return err
	}
	name := input.Name()
	if input.DType() != dtype {
		return newError(ErrDtype, "feed: input '%s' holds %v, got %v data", name, input.DType(), dtype)
	}
	if len(shape) > MaxDims {
		return newError(ErrShape, "feed: input '%s': %d dimensions (at most %d)", name, len(shape), MaxDims)
	}
	total, ok := numel(shape)
	if !ok {
		return newError(ErrShape, "feed: input '%s' got shape %v: every size must be >= 1 (and the total representable)", name, shape)
	}
	if total != int64(n) {
		return newError(ErrShape, "feed: input '%s' got %d values for shape %v (%d expected)", name, n, shape, total)
	}
	slot := g.feeds[input.raw]
	if slot == nil {
		slot = &feedSlot{}
		g.feeds[input.raw] = slot
	}
	bytes := n * 4
	if slot.spareCap < bytes {
		C.free(slot.spare)
		slot.spare = C.malloc(C.size_t(bytes))
		slot.spareCap = bytes
	}
	if bytes > 0 {
		copy(unsafe.Slice((*byte)(slot.spare), bytes), unsafe.Slice((*byte)(src), bytes))
	}
	defer runtime.KeepAlive(g)
	err := call(func() C.tdl_status {
		return C.tdl_feed(g.raw, input.raw, slot.spare, C.int32_t(len(shape)), int64Ptr(shape))
	})
	if err != nil {
		return err // the library still reads slot.cur
	}
	slot.cur, slot.spare = slot.spare, slot.cur
	slot.curCap, slot.spareCap = slot.spareCap, slot.curCap
	return nil
}

// FeedFloat32 feeds a float input with a copy of data (kept in C memory owned
// by the graph until the input is fed again or the graph is closed). shape is
// the input's shape with the batch size in place of Batch.
func (g *Graph) FeedFloat32(input *Node, data []float32, shape ...int64) error {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return g.feed(input, p, len(data), F32, shape)
}

// FeedInt32 feeds an int32 input (e.g. labels) with a copy of data; as FeedFloat32.
func (g *Graph) FeedInt32(input *Node, data []int32, shape ...int64) error {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return g.feed(input, p, len(data), I32, shape)
}

// Forward computes every forward node.
func (g *Graph) Forward() error {
	raw, err := g.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(g)
	return call(func() C.tdl_status { return C.tdl_forward(raw) })
}

// Run computes only what target needs (e.g. logits without labels).
func (g *Graph) Run(target *Node) error {
	if err := g.own(target); err != nil {
		return err
	}
	defer runtime.KeepAlive(g)
	return call(func() C.tdl_status { return C.tdl_run(g.raw, target.raw) })
}

// BuildGradients adds the gradient nodes of scalar loss (the first Backward does it otherwise).
func (g *Graph) BuildGradients(loss *Node) error {
	if err := g.own(loss); err != nil {
		return err
	}
	defer runtime.KeepAlive(g)
	return call(func() C.tdl_status { return C.tdl_build_gradients(g.raw, loss.raw) })
}

// Backward computes the gradient of loss for every trainable parameter (after Forward).
func (g *Graph) Backward(loss *Node) error {
	if err := g.own(loss); err != nil {
		return err
	}
	defer runtime.KeepAlive(g)
	return call(func() C.tdl_status { return C.tdl_backward(g.raw, loss.raw) })
}

// Grad is the gradient of scalar y with respect to x as an ordinary node (sticky errors).
func (g *Graph) Grad(y, x *Node) *Node {
	return g.build([]*Node{y, x}, func(r *C.tdl_graph) *C.tdl_node { return C.tdl_grad(r, y.raw, x.raw) })
}

// Find is the node called name, or nil.
func (g *Graph) Find(name string) *Node {
	raw, err := g.ptr()
	if err != nil {
		return nil
	}
	c, err := cstring("name", name)
	if err != nil {
		return nil
	}
	defer cfree(c)
	defer runtime.KeepAlive(g)
	n := C.tdl_graph_find(raw, c)
	if n == nil {
		return nil
	}
	return &Node{raw: n, g: g}
}

// ParamCount is the number of parameter tensors.
func (g *Graph) ParamCount() int {
	raw, err := g.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(g)
	return int(C.tdl_graph_param_count(raw))
}

// ParamAt is the i-th parameter in creation order, or nil.
func (g *Graph) ParamAt(i int) *Node {
	raw, err := g.ptr()
	if err != nil {
		return nil
	}
	defer runtime.KeepAlive(g)
	n := C.tdl_graph_param(raw, C.int64_t(i))
	if n == nil {
		return nil
	}
	return &Node{raw: n, g: g}
}

// ParamElements is the total number of scalar parameters.
func (g *Graph) ParamElements() int64 {
	raw, err := g.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(g)
	return int64(C.tdl_graph_param_elements(raw))
}

// MemoryPlan is the memory plan of a graph for one batch size.
type MemoryPlan struct {
	ArenaBytes, NaiveBytes, ParamBytes uint64
}

// MemoryPlan plans memory for batch without running anything.
func (g *Graph) MemoryPlan(batch int64) (MemoryPlan, error) {
	var p MemoryPlan
	raw, err := g.ptr()
	if err != nil {
		return p, err
	}
	defer runtime.KeepAlive(g)
	var a, n, q C.uint64_t
	err = call(func() C.tdl_status { return C.tdl_graph_memory_plan(raw, C.int64_t(batch), &a, &n, &q) })
	p = MemoryPlan{uint64(a), uint64(n), uint64(q)}
	return p, err
}

// Summary is a Keras-style table of the graph.
func (g *Graph) Summary() (string, error) {
	raw, err := g.ptr()
	if err != nil {
		return "", err
	}
	defer runtime.KeepAlive(g)
	var needed C.size_t
	if err := call(func() C.tdl_status { return C.tdl_graph_summary(raw, nil, 0, &needed) }); err != nil {
		return "", err
	}
	buf := (*C.char)(C.malloc(needed + 1))
	defer C.free(unsafe.Pointer(buf))
	if err := call(func() C.tdl_status { return C.tdl_graph_summary(raw, buf, needed+1, &needed) }); err != nil {
		return "", err
	}
	return C.GoString(buf), nil
}

func (g *Graph) pathCall(path string, f func(raw *C.tdl_graph, p *C.char) C.tdl_status) error {
	raw, err := g.ptr()
	if err != nil {
		return err
	}
	c, err := cstring("path", path)
	if err != nil {
		return err
	}
	defer cfree(c)
	defer runtime.KeepAlive(g)
	return call(func() C.tdl_status { return f(raw, c) })
}

// WriteDot writes the graph as Graphviz DOT.
func (g *Graph) WriteDot(path string, includeGradients bool) error {
	return g.pathCall(path, func(r *C.tdl_graph, p *C.char) C.tdl_status {
		return C.tdl_graph_write_dot(r, p, boolInt(includeGradients))
	})
}

// SaveWeights writes every parameter to a safetensors file, atomically.
func (g *Graph) SaveWeights(path string) error {
	return g.pathCall(path, func(r *C.tdl_graph, p *C.char) C.tdl_status { return C.tdl_save_weights(r, p) })
}

// LoadWeights loads parameters by name (strict; nothing changes on error).
func (g *Graph) LoadWeights(path string) error {
	return g.pathCall(path, func(r *C.tdl_graph, p *C.char) C.tdl_status { return C.tdl_load_weights(r, p) })
}

// Load flags of LoadWeightsEx, or-ed together.
const (
	LoadStrict       = C.TDL_LOAD_STRICT
	LoadAllowMissing = C.TDL_LOAD_ALLOW_MISSING
	LoadAllowUnused  = C.TDL_LOAD_ALLOW_UNUSED
)

// LoadWeightsEx is LoadWeights with flags.
func (g *Graph) LoadWeightsEx(path string, flags int) error {
	return g.pathCall(path, func(r *C.tdl_graph, p *C.char) C.tdl_status {
		return C.tdl_load_weights_ex(r, p, C.int32_t(flags))
	})
}

// ClipGradNorm scales every trainable gradient so that their global L2 norm is
// at most maxNorm; it returns the norm before clipping.
func (g *Graph) ClipGradNorm(maxNorm float64) (float64, error) {
	raw, err := g.ptr()
	if err != nil {
		return 0, err
	}
	defer runtime.KeepAlive(g)
	var norm C.double
	err = call(func() C.tdl_status { return C.tdl_clip_grad_norm(raw, C.double(maxNorm), &norm) })
	return float64(norm), err
}

// ---- nodes ----

func (n *Node) alive() bool { return n != nil && n.raw != nil && n.g != nil && n.g.raw != nil }

// Name is the node's name ("" for a node of a closed graph).
func (n *Node) Name() string {
	if !n.alive() {
		return ""
	}
	defer runtime.KeepAlive(n.g)
	return C.GoString(C.tdl_node_name(n.raw))
}

// Op is the stable name of the node's op ("matmul", "relu", ...).
func (n *Node) Op() string {
	if !n.alive() {
		return ""
	}
	defer runtime.KeepAlive(n.g)
	return C.GoString(C.tdl_node_op(n.raw))
}

// DType is the node's element type.
func (n *Node) DType() DType {
	if !n.alive() {
		return 0
	}
	defer runtime.KeepAlive(n.g)
	return DType(C.tdl_node_dtype(n.raw))
}

func (n *Node) shape(value bool) ([]int64, error) {
	if !n.alive() {
		return nil, errClosed("node's graph")
	}
	defer runtime.KeepAlive(n.g)
	var ndim C.int32_t
	var dims [MaxDims]C.int64_t
	err := call(func() C.tdl_status {
		if value {
			return C.tdl_node_value_shape(n.raw, &ndim, &dims[0])
		}
		return C.tdl_node_shape(n.raw, &ndim, &dims[0])
	})
	if err != nil {
		return nil, err
	}
	out := make([]int64, int(ndim))
	for i := range out {
		out[i] = int64(dims[i])
	}
	return out, nil
}

// Shape is the symbolic shape (a negative entry -k means k times the batch).
func (n *Node) Shape() []int64 {
	s, _ := n.shape(false)
	return s
}

// ValueShape is the shape of the node's current value (after a run).
func (n *Node) ValueShape() ([]int64, error) { return n.shape(true) }

func (n *Node) read(dtype DType, dst unsafe.Pointer, capacity int) (int, error) {
	if !n.alive() {
		return 0, errClosed("node's graph")
	}
	if n.DType() != dtype {
		return 0, newError(ErrDtype, "read: node '%s' holds %v, asked for %v", n.Name(), n.DType(), dtype)
	}
	shape, err := n.ValueShape()
	if err != nil {
		return 0, err
	}
	count := 1
	for _, d := range shape {
		count *= int(d)
	}
	if dst == nil {
		return count, nil
	}
	if capacity < count {
		return 0, newError(ErrShape, "read: node '%s' has %d values, dst holds %d", n.Name(), count, capacity)
	}
	defer runtime.KeepAlive(n.g)
	return count, call(func() C.tdl_status { return C.tdl_node_read(n.raw, dst, C.size_t(capacity*4)) })
}

// ReadFloat32 is a copy of a float node's current value.
func (n *Node) ReadFloat32() ([]float32, error) {
	count, err := n.read(F32, nil, 0)
	if err != nil || count == 0 {
		return []float32{}, err
	}
	out := make([]float32, count)
	_, err = n.read(F32, unsafe.Pointer(&out[0]), count)
	return out, err
}

// ReadFloat32Into copies the current value into dst; it returns the element count.
func (n *Node) ReadFloat32Into(dst []float32) (int, error) {
	if len(dst) == 0 {
		var none [1]float32
		return n.read(F32, unsafe.Pointer(&none[0]), 0)
	}
	return n.read(F32, unsafe.Pointer(&dst[0]), len(dst))
}

// ReadInt32 is a copy of an int32 node's current value.
func (n *Node) ReadInt32() ([]int32, error) {
	count, err := n.read(I32, nil, 0)
	if err != nil || count == 0 {
		return []int32{}, err
	}
	out := make([]int32, count)
	_, err = n.read(I32, unsafe.Pointer(&out[0]), count)
	return out, err
}

// Scalar is the value of a one-element float node (e.g. a loss).
func (n *Node) Scalar() (float32, error) {
	v, err := n.ReadFloat32()
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, newError(ErrShape, "scalar: node '%s' has %d values", n.Name(), len(v))
	}
	return v[0], nil
}

// IsParam reports whether the node is a parameter.
func (n *Node) IsParam() bool {
	if !n.alive() {
		return false
	}
	defer runtime.KeepAlive(n.g)
	return C.tdl_param_data(n.raw) != nil
}

func (n *Node) paramMem(grad bool) ([]float32, error) {
	if !n.alive() {
		return nil, errClosed("node's graph")
	}
	var p *C.float
	if grad {
		p = C.tdl_param_grad(n.raw)
	} else {
		p = C.tdl_param_data(n.raw)
	}
	if p == nil {
		return nil, newError(ErrInvalidArgument, "node '%s' is not a parameter", n.Name())
	}
	count := 1
	for _, d := range n.Shape() {
		count *= int(d)
	}
	// a view of C memory owned by the graph; only used inside this package's calls
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), count), nil
}

// ParamValues is a copy of a parameter's values.
func (n *Node) ParamValues() ([]float32, error) {
	defer runtime.KeepAlive(n)
	v, err := n.paramMem(false)
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), v...), nil
}

// SetParamValues overwrites a parameter's values (len(values) must be its element count).
func (n *Node) SetParamValues(values []float32) error {
	defer runtime.KeepAlive(n)
	v, err := n.paramMem(false)
	if err != nil {
		return err
	}
	if len(values) != len(v) {
		return newError(ErrShape, "parameter '%s' has %d values, got %d", n.Name(), len(v), len(values))
	}
	copy(v, values)
	return nil
}

// ParamGrad is a copy of a parameter's gradient from the last Backward.
func (n *Node) ParamGrad() ([]float32, error) {
	defer runtime.KeepAlive(n)
	v, err := n.paramMem(true)
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), v...), nil
}

// SetParamGrad overwrites a parameter's gradient before the optimizer step.
func (n *Node) SetParamGrad(values []float32) error {
	defer runtime.KeepAlive(n)
	v, err := n.paramMem(true)
	if err != nil {
		return err
	}
	if len(values) != len(v) {
		return newError(ErrShape, "parameter '%s' has %d values, got %d", n.Name(), len(v), len(values))
	}
	copy(v, values)
	return nil
}

// SetTrainable freezes (false) or unfreezes (true) a parameter, before the first Backward.
func (n *Node) SetTrainable(trainable bool) error {
	if !n.alive() {
		return errClosed("node's graph")
	}
	defer runtime.KeepAlive(n.g)
	return call(func() C.tdl_status { return C.tdl_param_set_trainable(n.raw, boolInt(trainable)) })
}

// Trainable reports whether the node is a trainable parameter.
func (n *Node) Trainable() bool {
	if !n.alive() {
		return false
	}
	defer runtime.KeepAlive(n.g)
	return C.tdl_param_trainable(n.raw) != 0
}

// String describes the node.
func (n *Node) String() string {
	if !n.alive() {
		return "Node(<closed>)"
	}
	return "Node(" + n.Name() + " = " + n.Op() + ")"
}
