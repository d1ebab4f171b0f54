package tinydl

import (
	"errors"
	"math"
	"testing"
)

// An LSTM learns whether token 3 occurs in a sequence; the step API reproduces the fused layer.
func TestLSTM(t *testing.T) {
	ctx := newCtx(t, 11)
	defer ctx.Close()
	g, err := NewGraph(ctx)
	must(t, err)
	defer g.Close()
	ids := g.Input("ids", I32, Batch, 6)
	labels := g.Input("labels", I32, Batch)
	emb := g.Embedding(ids, 5, 8, -1, "emb")
	seq := g.RNN(emb, nil, nil, nil, LSTM, 16, 1, RNNBatchFirst, 0, "lstm")
	pooled := g.MaskedMeanTime(seq, nil, true)
	last := g.Reshape(g.RNNFinalState(seq, StateH), -1, 16)
	logits := g.Dense(g.Concat(1, pooled, last), 2, "fc")
	loss := g.CrossEntropy(logits, labels)
	must(t, g.Compile())
	opt, err := NewAdam(g, 0.02)
	must(t, err)
	defer opt.Close()
	state := uint64(7)
	var x, y []int32
	for i := 0; i < 64; i++ {
		has := int32(0)
		for j := 0; j < 6; j++ {
			state = state*6364136223846793005 + 1442695040888963407
			tok := int32((state >> 33) % 5)
			if tok == 3 {
				has = 1
			}
			x = append(x, tok)
		}
		y = append(y, has)
	}
	must(t, g.FeedInt32(ids, x, 64, 6))
	must(t, g.FeedInt32(labels, y, 64))
	for step := 0; step < 150; step++ {
		must(t, g.Forward())
		must(t, g.Backward(loss))
		must(t, opt.Step())
	}
	must(t, g.Run(logits))
	scores, err := logits.ReadFloat32()
	must(t, err)
	correct := 0
	for i := 0; i < 64; i++ {
		pred := int32(0)
		if scores[2*i+1] > scores[2*i] {
			pred = 1
		}
		if pred == y[i] {
			correct++
		}
	}
	t.Logf("lstm token detector: %d/64", correct)
	if correct < 60 {
		t.Fatalf("%d/64 correct", correct)
	}

	must(t, g.Run(emb))
	e, err := emb.ReadFloat32()
	must(t, err)
	must(t, g.Run(seq))
	full, err := seq.ReadFloat32()
	must(t, err)
	st, err := NewRNNState(g, seq, 1)
	must(t, err)
	out := make([]float32, 16)
	for step := 0; step < 6; step++ {
		must(t, st.Step(e[step*8:step*8+8], out))
		for k := 0; k < 16; k++ {
			want := full[step*16+k]
			if math.Abs(float64(out[k]-want)) > 1e-5*math.Max(1, math.Abs(float64(want))) {
				t.Fatalf("step %d unit %d: %g vs %g", step, k, out[k], want)
			}
		}
	}
	h, err := st.State(StateH)
	must(t, err)
	if !equal(h, out) {
		t.Fatal("state h differs from the last output")
	}
	if st.Step(e[:7], nil) == nil {
		t.Fatal("a short step was accepted")
	}
	must(t, st.SetState(StateC, make([]float32, 16)))
	must(t, st.Reset())
	if err := g.Close(); err == nil {
		t.Fatal("graph closed with an open rnn state")
	}
	must(t, st.Close())

	id, err := SampleLogits([]float32{0.1, 2, -1, 0.5}, 0, 0, 1, 0)
	must(t, err)
	if id != 1 {
		t.Fatalf("argmax sample %d", id)
	}
	if _, err := SampleLogits(nil, 1, 0, 0, 0); err == nil {
		t.Fatal("empty logits accepted")
	}
}

// Weight dropout (DropConnect of the recurrent weights) changes training runs only.
func TestRNNWeightDropout(t *testing.T) {
	ctx := newCtx(t, 5)
	defer ctx.Close()
	g, err := NewGraph(ctx)
	must(t, err)
	defer g.Close()
	x := g.Input("x", F32, 4, Batch, 3)
	seq := g.RNN(x, nil, nil, nil, GRU, 8, 1, 0, 0, "gru")
	if err := g.SetRNNWeightDropout(seq, 1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("p = 1: %v", err)
	}
	if err := g.SetRNNWeightDropout(x, 0.5); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("not an RNN output: %v", err)
	}
	must(t, g.SetRNNWeightDropout(seq, 0.5))
	must(t, g.Compile())
	xs := make([]float32, 24)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i) * 0.37))
	}
	must(t, g.FeedFloat32(x, xs, 4, 2, 3))
	must(t, g.SetTraining(false))
	must(t, g.Run(seq))
	eval, err := seq.ReadFloat32()
	must(t, err)
	must(t, g.SetTraining(true))
	must(t, g.Run(seq))
	train, err := seq.ReadFloat32()
	must(t, err)
	same := true
	for i := range eval {
		same = same && eval[i] == train[i]
	}
	if same {
		t.Fatal("weight dropout did not change the training-mode output")
	}
}
