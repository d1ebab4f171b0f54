package tinydl

/*
#include <stdlib.h>
#include <tiny-dl/tiny-dl.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// RNNKind is a kind of recurrent layer (PyTorch's nn.RNN, nn.LSTM, nn.GRU).
type RNNKind int32

// Recurrent layer kinds.
const (
	RNNTanh RNNKind = C.TDL_RNN_TANH
	RNNRelu RNNKind = C.TDL_RNN_RELU
	LSTM    RNNKind = C.TDL_RNN_LSTM
	GRU     RNNKind = C.TDL_RNN_GRU
)

// RNNFlags are the flags of Graph.RNN, or-ed together.
type RNNFlags uint32

// RNN flags.
const (
	RNNBatchFirst    RNNFlags = C.TDL_RNN_BATCH_FIRST
	RNNBidirectional RNNFlags = C.TDL_RNN_BIDIRECTIONAL
)

// RNNStateWhich selects the hidden (h) or cell (c, LSTM) state.
type RNNStateWhich int32

// States of a recurrent layer.
const (
	StateH RNNStateWhich = C.TDL_RNN_STATE_H
	StateC RNNStateWhich = C.TDL_RNN_STATE_C
)

func rawOrNil(n *Node) *C.tdl_node {
	if n == nil {
		return nil
	}
	return n.raw
}

// Embedding is a lookup table like nn.Embedding: parameter "<name>.weight"
// [vocab, dim]; paddingID names a row that stays zero (-1: none).
func (g *Graph) Embedding(ids *Node, vocab, dim, paddingID int64, name string) *Node {
	return g.named(name, []*Node{ids}, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_embedding(r, ids.raw, C.int64_t(vocab), C.int64_t(dim), C.int64_t(paddingID), c)
	})
}

// RNN is a fused multi-layer RNN/LSTM/GRU over a whole sequence (PyTorch's
// parameter names and layouts). h0, c0 (LSTM) and lengths ([B] int32) may be
// nil. The output is [T, B, dirs*H] (or [B, T, dirs*H] with RNNBatchFirst).
func (g *Graph) RNN(x, h0, c0, lengths *Node, kind RNNKind, hidden int64, layers int32, flags RNNFlags,
	dropout float32, name string) *Node {
	args := []*Node{x}
	for _, n := range []*Node{h0, c0, lengths} {
		if n != nil {
			args = append(args, n)
		}
	}
	return g.named(name, args, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_rnn(r, x.raw, rawOrNil(h0), rawOrNil(c0), rawOrNil(lengths), C.int32_t(kind),
			C.int64_t(hidden), C.int32_t(layers), C.uint32_t(flags), C.float(dropout), c)
	})
}

// RNNFinalState is the final h (or c) of an RNN node: [layers*dirs, B, H].
func (g *Graph) RNNFinalState(rnnOut *Node, which RNNStateWhich) *Node {
	return g.unary(rnnOut, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_rnn_final_state(r, x, C.int32_t(which))
	})
}

// SetRNNWeightDropout turns on DropConnect of the recurrent weights of an RNN
// node: in training mode each run drops every element of every weight_hh with
// probability p (one mask per run, shared by all steps). Call it before the
// first Backward; 0 turns it off.
func (g *Graph) SetRNNWeightDropout(rnnOut *Node, p float32) error {
	if err := g.own(rnnOut); err != nil {
		return err
	}
	raw, _ := g.ptr()
	defer runtime.KeepAlive(g)
	return call(func() C.tdl_status { return C.tdl_rnn_set_weight_dropout(raw, rnnOut.raw, C.float(p)) })
}

// MaskedMeanTime is the mean over the valid steps of each sequence: [B, F]
// (lengths may be nil).
func (g *Graph) MaskedMeanTime(x, lengths *Node, batchFirst bool) *Node {
	args := []*Node{x}
	if lengths != nil {
		args = append(args, lengths)
	}
	return g.build(args, func(r *C.tdl_graph) *C.tdl_node {
		return C.tdl_masked_mean_time(r, x.raw, rawOrNil(lengths), boolInt(batchFirst))
	})
}

// RNNState runs a unidirectional RNN layer one step at a time (streaming
// inference, generation). It copies the layer's parameters at creation and at
// every Reset; close it before its graph.
type RNNState struct {
	raw                             *C.tdl_rnn_state
	g                               *Graph
	batch, features, hidden, layers int
}

// NewRNNState creates a state for batch sequences (zero h and c) of rnnOut, a node returned by g.RNN.
func NewRNNState(g *Graph, rnnOut *Node, batch int) (*RNNState, error) {
	if err := g.own(rnnOut); err != nil {
		return nil, err
	}
	name := rnnOut.Name()
	w0 := g.Find(name + ".weight_ih_l0")
	if w0 == nil || len(w0.Shape()) != 2 {
		return nil, newError(ErrInvalidArgument, "rnn state: node '%s' is not an RNN output", name)
	}
	layers := 0
	for g.Find(fmt.Sprintf("%s.weight_ih_l%d", name, layers)) != nil {
		layers++
	}
	shape := rnnOut.Shape()
	st := &RNNState{g: g, batch: batch, features: int(w0.Shape()[1]), hidden: int(shape[len(shape)-1]), layers: layers}
	defer runtime.KeepAlive(g)
	if err := call(func() C.tdl_status {
		return C.tdl_rnn_state_create(g.raw, rnnOut.raw, C.int64_t(batch), &st.raw)
	}); err != nil {
		return nil, err
	}
	g.children.add(1)
	runtime.SetFinalizer(st, func(s *RNNState) { s.Close() })
	return st, nil
}

// Close frees the state.
func (s *RNNState) Close() error {
	if s == nil || s.raw == nil {
		return nil
	}
	C.tdl_rnn_state_destroy(s.raw)
	s.raw = nil
	s.g.children.add(-1)
	runtime.SetFinalizer(s, nil)
	return nil
}

// Step consumes xt ([batch, F]) and writes the last layer's output h to yt
// ([batch, H]) when yt is not nil.
func (s *RNNState) Step(xt, yt []float32) error {
	if s == nil || s.raw == nil {
		return errClosed("rnn state")
	}
	if len(xt) != s.batch*s.features || len(xt) == 0 {
		return newError(ErrShape, "rnn step: xt has %d values, [%d, %d] expected", len(xt), s.batch, s.features)
	}
	var y *C.float
	if yt != nil {
		if len(yt) != s.batch*s.hidden {
			return newError(ErrShape, "rnn step: yt has %d values, [%d, %d] expected", len(yt), s.batch, s.hidden)
		}
		y = (*C.float)(unsafe.Pointer(&yt[0]))
	}
	defer runtime.KeepAlive(s)
	return call(func() C.tdl_status { return C.tdl_rnn_state_step(s.raw, (*C.float)(unsafe.Pointer(&xt[0])), y) })
}

// Reset zeroes h and c and copies the layer's parameters again.
func (s *RNNState) Reset() error {
	if s == nil || s.raw == nil {
		return errClosed("rnn state")
	}
	defer runtime.KeepAlive(s)
	return call(func() C.tdl_status { return C.tdl_rnn_state_reset(s.raw) })
}

// SetState sets h or c from [layers, batch, H] values.
func (s *RNNState) SetState(which RNNStateWhich, values []float32) error {
	if s == nil || s.raw == nil {
		return errClosed("rnn state")
	}
	shape := []int64{int64(s.layers), int64(s.batch), int64(s.hidden)}
	if len(values) != s.layers*s.batch*s.hidden || len(values) == 0 {
		return newError(ErrShape, "rnn state: %d values for shape %v", len(values), shape)
	}
	defer runtime.KeepAlive(s)
	return call(func() C.tdl_status {
		return C.tdl_rnn_state_set(s.raw, C.int32_t(which), (*C.float)(unsafe.Pointer(&values[0])), 3, int64Ptr(shape))
	})
}

// State is a copy of h or c, [layers, batch, H].
func (s *RNNState) State(which RNNStateWhich) ([]float32, error) {
	if s == nil || s.raw == nil {
		return nil, errClosed("rnn state")
	}
	out := make([]float32, s.layers*s.batch*s.hidden+1) // +1: never empty
	defer runtime.KeepAlive(s)
	err := call(func() C.tdl_status {
		return C.tdl_rnn_state_get(s.raw, C.int32_t(which), (*C.float)(unsafe.Pointer(&out[0])), C.size_t(4*(len(out)-1)))
	})
	return out[:len(out)-1], err
}

// Err is the state's last error message.
func (s *RNNState) Err() string {
	if s == nil || s.raw == nil {
		return ""
	}
	defer runtime.KeepAlive(s)
	return C.GoString(C.tdl_rnn_state_error(s.raw))
}

// SampleLogits draws an index from softmax(logits / temperature) (0: argmax),
// among the topK largest (0: all); a pure function of its arguments.
func SampleLogits(logits []float32, temperature float32, topK int32, seed, counter uint64) (int, error) {
	if len(logits) == 0 {
		return 0, newError(ErrInvalidArgument, "sample: no logits")
	}
	var id C.int32_t
	err := call(func() C.tdl_status {
		return C.tdl_sample_logits((*C.float)(unsafe.Pointer(&logits[0])), C.int64_t(len(logits)), C.float(temperature),
			C.int32_t(topK), C.uint64_t(seed), C.uint64_t(counter), &id)
	})
	return int(id), err
}
