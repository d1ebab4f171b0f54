package tinydl

/*
#include <stdlib.h>
#include <tiny-dl/tiny-dl.h>
*/
import "C"

import "runtime"

// OptimKind is an optimizer algorithm (PyTorch's formulas).
type OptimKind int32

// Optimizer algorithms.
const (
	SGD     OptimKind = C.TDL_OPTIM_SGD
	Adam    OptimKind = C.TDL_OPTIM_ADAM
	AdamW   OptimKind = C.TDL_OPTIM_ADAMW
	RMSprop OptimKind = C.TDL_OPTIM_RMSPROP
)

// OptimOption is an option of Optimizer.Set and Optimizer.GroupSet (see optim.h).
type OptimOption int32

// Optimizer options.
const (
	OptLR          OptimOption = C.TDL_OPT_LR
	OptMomentum    OptimOption = C.TDL_OPT_MOMENTUM
	OptNesterov    OptimOption = C.TDL_OPT_NESTEROV
	OptBeta1       OptimOption = C.TDL_OPT_BETA1
	OptBeta2       OptimOption = C.TDL_OPT_BETA2
	OptEps         OptimOption = C.TDL_OPT_EPS
	OptWeightDecay OptimOption = C.TDL_OPT_WEIGHT_DECAY
	OptAlpha       OptimOption = C.TDL_OPT_ALPHA
	OptClipNorm    OptimOption = C.TDL_OPT_CLIP_NORM
	OptFrozen      OptimOption = C.TDL_OPT_FROZEN
	OptSchedule    OptimOption = C.TDL_OPT_SCHEDULE
	OptWarmupSteps OptimOption = C.TDL_OPT_WARMUP_STEPS
	OptStepSize    OptimOption = C.TDL_OPT_STEP_SIZE
	OptGamma       OptimOption = C.TDL_OPT_GAMMA
	OptTotalSteps  OptimOption = C.TDL_OPT_TOTAL_STEPS
	OptMinLR       OptimOption = C.TDL_OPT_MIN_LR
)

// Learning-rate schedules (values of OptSchedule).
const (
	SchedConstant = C.TDL_SCHED_CONSTANT
	SchedStep     = C.TDL_SCHED_STEP
	SchedCosine   = C.TDL_SCHED_COSINE
)

// Optimizer updates the trainable parameters of one graph.
type Optimizer struct {
	raw *C.tdl_optim
	g   *Graph
}

func newOptim(g *Graph, create func(r *C.tdl_graph, out **C.tdl_optim) C.tdl_status) (*Optimizer, error) {
	raw, err := g.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(g)
	var o *C.tdl_optim
	if err := call(func() C.tdl_status { return create(raw, &o) }); err != nil {
		return nil, err
	}
	opt := &Optimizer{raw: o, g: g}
	g.children.add(1)
	runtime.SetFinalizer(opt, func(o *Optimizer) { o.Close() })
	return opt, nil
}

// NewOptimizer creates an optimizer of kind with learning rate lr (> 0).
func NewOptimizer(g *Graph, kind OptimKind, lr float32) (*Optimizer, error) {
	return newOptim(g, func(r *C.tdl_graph, out **C.tdl_optim) C.tdl_status {
		return C.tdl_optim_create(r, C.int32_t(kind), C.float(lr), out)
	})
}

// NewSGD creates SGD with momentum (0 = plain SGD).
func NewSGD(g *Graph, lr, momentum float32) (*Optimizer, error) {
	return newOptim(g, func(r *C.tdl_graph, out **C.tdl_optim) C.tdl_status {
		return C.tdl_optim_create_sgd(r, C.float(lr), C.float(momentum), out)
	})
}

// NewAdam creates Adam with PyTorch's defaults.
func NewAdam(g *Graph, lr float32) (*Optimizer, error) {
	return newOptim(g, func(r *C.tdl_graph, out **C.tdl_optim) C.tdl_status {
		return C.tdl_optim_create_adam(r, C.float(lr), out)
	})
}

// Close frees the optimizer. Closing twice is a no-op.
func (o *Optimizer) Close() error {
	if o == nil || o.raw == nil {
		return nil
	}
	C.tdl_optim_destroy(o.raw)
	o.raw = nil
	o.g.children.add(-1)
	runtime.SetFinalizer(o, nil)
	return nil
}

func (o *Optimizer) ptr() (*C.tdl_optim, error) {
	if o == nil || o.raw == nil {
		return nil, errClosed("optimizer")
	}
	return o.raw, nil
}

// Set sets an option for the whole optimizer.
func (o *Optimizer) Set(option OptimOption, value float64) error {
	raw, err := o.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(o)
	return call(func() C.tdl_status { return C.tdl_optim_set(raw, C.int32_t(option), C.double(value)) })
}

// AddGroup adds a group of the parameters whose names start with prefix; it returns the group id (>= 1).
func (o *Optimizer) AddGroup(prefix string) (int32, error) {
	raw, err := o.ptr()
	if err != nil {
		return 0, err
	}
	c, err := cstring("prefix", prefix)
	if err != nil {
		return 0, err
	}
	defer cfree(c)
	defer runtime.KeepAlive(o)
	var id C.int32_t
	err = call(func() C.tdl_status { return C.tdl_optim_add_group(raw, c, &id) })
	return int32(id), err
}

// GroupSet sets OptLR, OptWeightDecay or OptFrozen for one group.
func (o *Optimizer) GroupSet(group int32, option OptimOption, value float64) error {
	raw, err := o.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(o)
	return call(func() C.tdl_status {
		return C.tdl_optim_group_set(raw, C.int32_t(group), C.int32_t(option), C.double(value))
	})
}

// Step applies one update from the current gradients (nothing changes when it fails).
func (o *Optimizer) Step() error {
	raw, err := o.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(o)
	return call(func() C.tdl_status { return C.tdl_optim_step(raw) })
}

// LR is the learning rate the next step will use.
func (o *Optimizer) LR() float64 {
	raw, err := o.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(o)
	return float64(C.tdl_optim_lr(raw))
}

// Steps is the number of steps taken.
func (o *Optimizer) Steps() int64 {
	raw, err := o.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(o)
	return int64(C.tdl_optim_steps(raw))
}

// LastGradNorm is the global gradient norm seen by the last step (before clipping).
func (o *Optimizer) LastGradNorm() float64 {
	raw, err := o.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(o)
	return float64(C.tdl_optim_last_grad_norm(raw))
}

// Err is the optimizer's last error message ("" if none).
func (o *Optimizer) Err() string {
	raw, err := o.ptr()
	if err != nil {
		return ""
	}
	defer runtime.KeepAlive(o)
	return C.GoString(C.tdl_optim_error(raw))
}
