package tinydl

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newCtx(t *testing.T, seed uint64) *Context {
	t.Helper()
	ctx, err := NewContext()
	must(t, err)
	must(t, ctx.SetSeed(seed))
	must(t, ctx.SetThreads(2))
	return ctx
}

func TestXOR(t *testing.T) {
	ctx := newCtx(t, 1)
	defer ctx.Close()
	g, err := NewGraph(ctx)
	must(t, err)
	defer g.Close()
	x := g.Input("x", F32, Batch, 2)
	tg := g.Input("t", F32, Batch, 1)
	y := g.Dense(g.Tanh(g.Dense(x, 8, "h")), 1, "out")
	loss := g.BCEWithLogits(y, tg)
	must(t, g.Compile())
	opt, err := NewAdam(g, 0.05)
	must(t, err)
	defer opt.Close()
	inputs := []float32{0, 0, 0, 1, 1, 0, 1, 1}
	targets := []float32{0, 1, 1, 0}
	must(t, g.FeedFloat32(x, inputs, 4, 2))
	must(t, g.FeedFloat32(tg, targets, 4, 1))
	for i := range inputs { // the graph holds a copy: changing the source changes nothing
		inputs[i] = 100
	}
	for step := 0; step < 500; step++ {
		must(t, g.Forward())
		must(t, g.Backward(loss))
		must(t, opt.Step())
	}
	must(t, g.Forward())
	l, err := loss.Scalar()
	must(t, err)
	// a full forward may reuse the memory of intermediate values (the library's
	// liveness plan): run the node itself to read it
	must(t, g.Run(y))
	logits, err := y.ReadFloat32()
	must(t, err)
	t.Logf("loss %g, logits %v", l, logits)
	if l >= 0.05 {
		t.Fatalf("BCE loss %g is not below 0.05", l)
	}
	for i, v := range logits {
		if (v > 0) != (targets[i] > 0.5) {
			t.Fatalf("logits %v have the wrong signs", logits)
		}
	}
	if opt.Steps() != 500 || g.ParamCount() != 4 || g.ParamElements() != 2*8+8+8+1 {
		t.Fatalf("steps %d, params %d, elements %d", opt.Steps(), g.ParamCount(), g.ParamElements())
	}
	if s := x.Shape(); len(s) != 2 || s[0] != -1 || s[1] != 2 {
		t.Fatalf("shape %v", s)
	}
}

// spirals: three interleaved spirals of 200 points (fixed pseudo-random jitter).
func spirals() ([]float32, []int32) {
	state := uint64(12345)
	rnd := func() float64 {
		state = state*6364136223846793005 + 1442695040888963407
		return float64(state>>33) / float64(uint64(1)<<31)
	}
	var x []float32
	var y []int32
	for class := 0; class < 3; class++ {
		for i := 0; i < 200; i++ {
			r := float64(i) / 200
			th := float64(class)*2.094 + r*4 + (rnd()-0.5)*0.3
			x = append(x, float32(r*math.Sin(th)), float32(r*math.Cos(th)))
			y = append(y, int32(class))
		}
	}
	return x, y
}

func TestSpiralsMLP(t *testing.T) {
	ctx := newCtx(t, 3)
	defer ctx.Close()
	g, err := NewGraph(ctx)
	must(t, err)
	defer g.Close()
	x := g.Input("x", F32, Batch, 2)
	labels := g.Input("labels", I32, Batch)
	h := g.Relu(g.DenseEx(x, 64, "fc1", InitHeUniform, true))
	h = g.Relu(g.DenseEx(h, 64, "fc2", InitHeUniform, true))
	logits := g.Dense(h, 3, "fc3")
	loss := g.CrossEntropy(logits, labels)
	must(t, g.Compile())
	opt, err := NewAdam(g, 0.01)
	must(t, err)
	defer opt.Close()
	data, targets := spirals()
	n := int64(len(targets))
	must(t, g.FeedFloat32(x, data, n, 2))
	must(t, g.FeedInt32(labels, targets, n))
	for step := 0; step < 600; step++ {
		must(t, g.Forward())
		must(t, g.Backward(loss))
		must(t, opt.Step())
	}
	must(t, g.SetTraining(false))
	must(t, g.Run(logits))
	scores, err := logits.ReadFloat32()
	must(t, err)
	m, err := NewMetrics(ctx, 3)
	must(t, err)
	defer m.Close()
	must(t, m.UpdateScores(scores, targets))
	t.Logf("spirals: accuracy %.3f, macro F1 %.3f", m.Accuracy(), m.MacroF1())
	if m.Accuracy() < 0.95 || m.Count() != n {
		t.Fatalf("accuracy %g (count %d)", m.Accuracy(), m.Count())
	}
}

func fmnistDir() string {
	dir := os.Getenv("TDL_FMNIST_DIR")
	if dir == "" {
		dir = "/usr/share/datasets/fashion-mnist"
	}
	if _, err := os.Stat(filepath.Join(dir, "train-images-idx3-ubyte.gz")); err != nil {
		return ""
	}
	return dir
}

type model struct{ x, y, logits, loss *Node }

func buildModel(t *testing.T, g *Graph) model {
	t.Helper()
	x := g.Input("x", F32, Batch, 784)
	y := g.Input("y", I32, Batch)
	h := g.Relu(g.DenseEx(g.AffineScalar(x, 1/0.3530, -0.2860/0.3530), 128, "fc1", InitHeUniform, true))
	logits := g.Dense(h, 10, "fc2")
	loss := g.CrossEntropy(logits, y)
	must(t, g.Compile())
	return model{x, y, logits, loss}
}

func evaluate(t *testing.T, g *Graph, m model, ds *Dataset, metrics *Metrics) (float64, []float32) {
	t.Helper()
	must(t, g.SetTraining(false))
	must(t, metrics.Reset())
	it, err := ds.NewBatcher(500, false, 0)
	must(t, err)
	defer it.Close()
	var all []float32
	for {
		x, y, n, err := it.Next()
		must(t, err)
		if n == 0 {
			break
		}
		must(t, g.FeedFloat32(m.x, x, int64(n), 784))
		must(t, g.Run(m.logits))
		scores, err := m.logits.ReadFloat32()
		must(t, err)
		must(t, metrics.UpdateScores(scores, y))
		all = append(all, scores...)
	}
	must(t, g.SetTraining(true))
	return metrics.Accuracy(), all
}

func TestFashionMNISTSubset(t *testing.T) {
	dir := fmnistDir()
	if dir == "" {
		t.Skip("Fashion-MNIST not found (set TDL_FMNIST_DIR)")
	}
	if !strings.Contains(BuildInfo(), "zlib=yes") {
		t.Skipf("this libtiny-dl cannot read .gz files (%s)", BuildInfo())
	}
	ctx := newCtx(t, 42)
	defer ctx.Close()
	train, err := LoadIDX(ctx, filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	must(t, err)
	defer train.Close()
	test, err := LoadIDX(ctx, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	must(t, err)
	defer test.Close()
	if train.Len() != 60000 || test.Len() != 10000 || train.NumClasses() != 10 {
		t.Fatalf("sizes %d %d, classes %d", train.Len(), test.Len(), train.NumClasses())
	}
	must(t, train.Truncate(10000))
	must(t, test.Truncate(2000))

	g, err := NewGraph(ctx)
	must(t, err)
	defer g.Close()
	m := buildModel(t, g)
	opt, err := NewAdam(g, 2e-3)
	must(t, err)
	defer opt.Close()
	it, err := train.NewBatcher(64, true, 7)
	must(t, err)
	defer it.Close()
	const epochs = 2
	must(t, opt.Set(OptSchedule, SchedCosine))
	must(t, opt.Set(OptTotalSteps, float64(epochs*it.NumBatches())))
	for e := 0; e < epochs; e++ {
		for {
			x, y, n, err := it.Next()
			must(t, err)
			if n == 0 {
				break
			}
			must(t, g.FeedFloat32(m.x, x, int64(n), 784))
			must(t, g.FeedInt32(m.y, y, int64(n)))
			must(t, g.Forward())
			must(t, g.Backward(m.loss))
			must(t, opt.Step())
		}
		must(t, it.Reset())
	}
	metrics, err := NewMetrics(ctx, 10)
	must(t, err)
	defer metrics.Close()
	acc, logitsA := evaluate(t, g, m, test, metrics)
	report, err := metrics.Report([]string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"})
	must(t, err)
	t.Logf("fashion-mnist (10k train, 2 epochs, 2k test): accuracy %.4f\n%s", acc, report)
	if acc < 0.80 {
		t.Fatalf("test accuracy %g below 0.80", acc)
	}

	path := filepath.Join(t.TempDir(), "fmnist.safetensors")
	must(t, g.SaveWeights(path))
	must(t, ctx.SetSeed(1234))
	g2, err := NewGraph(ctx)
	must(t, err)
	defer g2.Close()
	m2 := buildModel(t, g2)
	must(t, g2.LoadWeights(path))
	acc2, logitsB := evaluate(t, g2, m2, test, metrics)
	if acc2 != acc || len(logitsA) != len(logitsB) {
		t.Fatalf("reloaded accuracy %g != %g", acc2, acc)
	}
	for i := range logitsA {
		if logitsA[i] != logitsB[i] {
			t.Fatalf("reloaded model predicts differently at %d", i)
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := newCtx(t, 0)
	defer ctx.Close()
	g, err := NewGraph(ctx)
	must(t, err)
	defer g.Close()
	a := g.Input("a", F32, Batch, 3)
	b := g.Param("b", []int64{4, 5}, InitZeros, 0, 0)
	if c := g.MatMul(a, b); c != nil {
		t.Fatal("matmul of [B,3] and [4,5] succeeded")
	}
	err = g.Compile()
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrShape || !strings.Contains(e.Message, "matmul") {
		t.Fatalf("compile: %v", err)
	}
	if !errors.Is(err, ErrShape) || errors.Is(err, ErrIO) {
		t.Fatalf("errors.Is: %v", err)
	}
	if g.Relu(a) != nil || g.Err() == nil || g.Err().Error() != err.Error() {
		t.Fatalf("not sticky: %v", g.Err())
	}

	g2, err := NewGraph(ctx)
	must(t, err)
	defer g2.Close()
	x := g2.Input("x", F32, Batch, 2)
	labels := g2.Input("labels", I32, Batch)
	y := g2.Dense(x, 3, "fc")
	loss := g2.CrossEntropy(y, labels)
	must(t, g2.Compile())
	if err := g2.Run(y); !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "'x'") {
		t.Fatalf("run before feed: %v", err)
	}
	if err := g2.FeedFloat32(x, make([]float32, 6), 2, 3); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "expects shape") {
		t.Fatalf("feed shape: %v", err)
	}
	if err := g2.FeedFloat32(x, make([]float32, 5), 3, 2); !errors.Is(err, ErrShape) {
		t.Fatalf("feed length: %v", err)
	}
	if err := g2.FeedInt32(x, make([]int32, 4), 2, 2); !errors.Is(err, ErrDtype) {
		t.Fatalf("feed dtype: %v", err)
	}
	if err := g2.FeedFloat32(a, make([]float32, 3), 1, 3); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "another graph") {
		t.Fatalf("feed of another graph's node: %v", err)
	}
	if g2.Add(x, a) != nil || !errors.Is(g2.Err(), ErrInvalidArgument) {
		t.Fatalf("builder with another graph's node: %v", g2.Err())
	}
	must(t, g2.FeedFloat32(x, make([]float32, 4), 2, 2))
	must(t, g2.FeedInt32(labels, []int32{0, 7}, 2))
	if err := g2.Forward(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("label out of range: %v", err)
	}
	must(t, g2.FeedInt32(labels, []int32{0, 1}, 2))
	if err := g2.Backward(loss); !errors.Is(err, ErrState) {
		t.Fatalf("backward before forward: %v", err)
	}
	must(t, g2.Forward())
	must(t, g2.Run(y))
	if _, err := y.ReadInt32(); !errors.Is(err, ErrDtype) {
		t.Fatalf("read dtype: %v", err)
	}
	if _, err := y.ReadFloat32Into(make([]float32, 2)); !errors.Is(err, ErrShape) {
		t.Fatalf("read into a small slice: %v", err)
	}
	if n, err := y.ReadFloat32Into(make([]float32, 6)); err != nil || n != 6 {
		t.Fatalf("read into: %d, %v", n, err)
	}
	must(t, g2.Forward())
	must(t, g2.Backward(loss))

	const missing = "/nonexistent-dir-tiny-dl/w.safetensors"
	if err := g2.LoadWeights(missing); !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("load: %v", err)
	}
	if _, err := LoadIDX(ctx, "/nonexistent/a", "/nonexistent/b"); !errors.Is(err, ErrIO) {
		t.Fatalf("LoadIDX: %v", err)
	}
	if err := ctx.SetThreads(0); !errors.Is(err, ErrInvalidArgument) || err.Error() == "" {
		t.Fatalf("SetThreads(0): %v", err)
	}
	if _, err := NewAdam(g2, -1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("adam(-1): %v", err)
	}
	opt, err := NewSGD(g2, 0.1, 0.9)
	must(t, err)
	defer opt.Close()
	if _, err := opt.AddGroup("nothing-matches"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddGroup: %v", err)
	}
	must(t, opt.Set(OptSchedule, SchedCosine))
	if err := opt.Step(); !errors.Is(err, ErrInvalidArgument) || opt.Steps() != 0 {
		t.Fatalf("cosine without total steps: %v", err)
	}
	if _, err := NewMetrics(ctx, 1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("metrics(1): %v", err)
	}
	if g2.Input("bad\x00name", F32, 2) != nil {
		t.Fatal("a name with a NUL byte was accepted")
	}
}

func TestFeedOwnership(t *testing.T) {
	ctx := newCtx(t, 0)
	defer ctx.Close()
	g, err := NewGraph(ctx)
	must(t, err)
	defer g.Close()
	x := g.Input("x", F32, Batch, 2)
	y := g.AffineScalar(x, 2, 1)
	must(t, g.Compile())
	src := []float32{1, 2, 3, 4}
	must(t, g.FeedFloat32(x, src, 2, 2))
	src[0] = 50 // the graph has its own copy
	runtime.GC()
	must(t, g.Run(y))
	got, err := y.ReadFloat32()
	must(t, err)
	if want := []float32{3, 5, 7, 9}; !equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	// a failed feed keeps the previous data
	if g.FeedFloat32(x, make([]float32, 3), 1, 3) == nil {
		t.Fatal("bad feed accepted")
	}
	must(t, g.Run(y))
	got, _ = y.ReadFloat32()
	if want := []float32{3, 5, 7, 9}; !equal(got, want) {
		t.Fatalf("after a failed feed: got %v want %v", got, want)
	}
	for i := 0; i < 10; i++ {
		must(t, g.FeedFloat32(x, []float32{float32(i), float32(i)}, 1, 2))
		must(t, g.Run(y))
		got, _ = y.ReadFloat32()
		if want := []float32{2*float32(i) + 1, 2*float32(i) + 1}; !equal(got, want) {
			t.Fatalf("step %d: got %v want %v", i, got, want)
		}
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCloseOrderAndFinalizers(t *testing.T) {
	ctx, err := NewContext()
	must(t, err)
	g, err := NewGraph(ctx)
	must(t, err)
	x := g.Input("x", F32, Batch, 2)
	g.Dense(x, 2, "fc")
	must(t, g.Compile())
	opt, err := NewAdam(g, 0.1)
	must(t, err)
	if err := ctx.Close(); !errors.Is(err, ErrState) {
		t.Fatalf("closing a context with an open graph: %v", err)
	}
	if err := g.Close(); !errors.Is(err, ErrState) {
		t.Fatalf("closing a graph with an open optimizer: %v", err)
	}
	must(t, opt.Close())
	must(t, opt.Close())
	must(t, g.Close())
	must(t, g.Close())
	if err := g.Forward(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("use after close: %v", err)
	}
	if x.Name() != "" || g.Relu(x) != nil {
		t.Fatal("a node of a closed graph still works")
	}
	if err := opt.Step(); err == nil {
		t.Fatal("step after close")
	}
	must(t, ctx.Close())

	// handles left to the garbage collector are freed by finalizers, children first
	func() {
		ctx, _ := NewContext()
		for i := 0; i < 20; i++ {
			g, _ := NewGraph(ctx)
			in := g.Input("x", F32, Batch, 4)
			g.Relu(in)
			_ = g.Compile()
			_ = g.FeedFloat32(in, make([]float32, 8), 2, 4)
			_, _ = NewAdam(g, 0.1)
		}
	}()
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
}

func TestMisc(t *testing.T) {
	ctx := newCtx(t, 5)
	defer ctx.Close()
	// datasets, batcher
	x := make([]float32, 40)
	y := make([]int32, 10)
	for i := range x {
		x[i] = float32(i)
	}
	for i := range y {
		y[i] = int32(i % 3)
	}
	ds, err := DatasetFromArrays(ctx, x, y, 1, 2, 2)
	must(t, err)
	defer ds.Close()
	if ds.Len() != 10 || ds.SampleSize() != 4 || ds.NumClasses() != 3 || len(ds.SampleShape()) != 3 {
		t.Fatalf("dataset %d %d %d %v", ds.Len(), ds.SampleSize(), ds.NumClasses(), ds.SampleShape())
	}
	if !equal(ds.X(), x) || len(ds.Y()) != 10 {
		t.Fatal("dataset contents differ")
	}
	it, err := ds.NewBatcher(4, true, 9)
	must(t, err)
	if it.NumBatches() != 3 {
		t.Fatalf("%d batches", it.NumBatches())
	}
	seen := map[int]bool{}
	for {
		bx, by, n, err := it.Next()
		must(t, err)
		if n == 0 {
			break
		}
		for i := 0; i < n; i++ {
			s := int(bx[i*4]) / 4
			if by[i] != int32(s%3) {
				t.Fatalf("sample %d has label %d", s, by[i])
			}
			seen[s] = true
		}
	}
	if len(seen) != 10 {
		t.Fatalf("saw %d samples", len(seen))
	}
	if err := ds.Close(); !errors.Is(err, ErrState) {
		t.Fatalf("closing a dataset with an open batcher: %v", err)
	}
	must(t, it.Close())

	img := []float32{1, 2, 3, 4}
	must(t, AugmentFlip(img, 1, 1, 2, 2, 1, 0, 0))
	must(t, NormalizeChannels(img, 1, 4, []float32{1}, []float32{2}))
	if !equal(img, []float32{0.5, 0, 1.5, 1}) {
		t.Fatalf("augment: %v", img)
	}
	must(t, AugmentTranslate(img, 1, 1, 2, 2, 0, 0, 1, 0))
	if AugmentFlip(img, 2, 1, 2, 2, 1, 0, 0) == nil {
		t.Fatal("wrong size accepted")
	}

	// a small conv net trains
	g, err := NewGraph(ctx)
	must(t, err)
	defer g.Close()
	in := g.Input("x", F32, Batch, 1, 8, 8)
	labels := g.Input("labels", I32, Batch)
	h := g.Relu(g.Conv2DLayer(in, 4, 3, 1, PadSame, 1, true, "c1"))
	h = g.MaxPool2D(g.BatchNorm(h, "bn1", 0.1, 1e-5), [2]int32{2, 2}, [2]int32{2, 2}, [2]int32{0, 0})
	w := g.Param("c2.weight", []int64{4, 4, 3, 3}, InitHeNormal, 0, 0)
	h = g.AvgPool2D(g.Conv2D(h, w, nil, [2]int32{1, 1}, [2]int32{1, 1}, [2]int32{1, 1}, 1),
		[2]int32{2, 2}, [2]int32{2, 2}, [2]int32{0, 0})
	logits := g.Dense(g.Concat(1, g.GlobalAvgPool(h), g.Flatten(h)), 3, "fc")
	loss := g.CrossEntropy(logits, labels)
	must(t, g.Compile())
	opt, err := NewAdam(g, 1e-2)
	must(t, err)
	defer opt.Close()
	images := make([]float32, 2*64)
	for i := range images {
		images[i] = float32((i*37)%11) / 11
	}
	must(t, g.FeedFloat32(in, images, 2, 1, 8, 8))
	must(t, g.FeedInt32(labels, []int32{0, 2}, 2))
	var first, last float32
	for step := 0; step < 30; step++ {
		must(t, g.Forward())
		l, err := loss.Scalar()
		must(t, err)
		if step == 0 {
			first = l
		}
		last = l
		must(t, g.Backward(loss))
		must(t, opt.Step())
	}
	if last >= first {
		t.Fatalf("loss %g -> %g", first, last)
	}
	s, err := g.Summary()
	must(t, err)
	if !strings.Contains(s, "fc") {
		t.Fatalf("summary: %s", s)
	}
	fc := g.Find("fc.weight")
	if fc == nil || !fc.IsParam() || !fc.Trainable() {
		t.Fatal("fc.weight")
	}
	v, err := fc.ParamValues()
	must(t, err)
	must(t, fc.SetParamValues(v))
	gr, err := fc.ParamGrad()
	must(t, err)
	must(t, fc.SetParamGrad(gr))
	if len(v) != 3*(4+16) {
		t.Fatalf("fc.weight has %d values", len(v))
	}
	plan, err := g.MemoryPlan(16)
	must(t, err)
	if plan.ArenaBytes == 0 {
		t.Fatal("empty plan")
	}
	dot := filepath.Join(t.TempDir(), "g.dot")
	must(t, g.WriteDot(dot, true))
	if VersionNumber() == 0 || Version() == "" || !strings.HasPrefix(BuildInfo(), "tiny-dl ") {
		t.Fatal("version")
	}
}

func TestLogSink(t *testing.T) {
	ctx, err := NewContext()
	must(t, err)
	defer ctx.Close()
	var lines []string
	must(t, ctx.SetLog(LogInfo, func(level LogLevel, msg string) {
		if level > LogInfo {
			t.Errorf("level %d above the maximum", level)
		}
		lines = append(lines, msg)
	}))
	g, err := NewGraph(ctx)
	must(t, err)
	g.Dense(g.Input("x", F32, Batch, 4), 2, "fc")
	must(t, g.Compile())
	must(t, g.Close())
	found := false
	for _, l := range lines {
		found = found || strings.Contains(l, "compiled")
	}
	if !found {
		t.Fatalf("no compile message in %q", lines)
	}
	must(t, ctx.SetLog(LogInfo, nil))
	n := len(lines)
	g, err = NewGraph(ctx)
	must(t, err)
	g.Relu(g.Input("x", F32, Batch, 4))
	must(t, g.Compile())
	must(t, g.Close())
	if len(lines) != n {
		t.Fatal("messages after the sink was removed")
	}
}
