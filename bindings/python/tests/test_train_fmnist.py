"""Trains the Fashion-MNIST MLP from Python, as examples/fmnist_mlp/main.c does.

Same model (standardised input, 784-256-256-10 ReLU with He-uniform init,
cross-entropy with label smoothing 0.1), same optimizer (Adam, lr 2e-3, cosine
decay over the whole run), batch 64, 3 epochs, context seed 42, shuffling seed
7, 2 threads: it must reach the C example's accuracy (>= 88.5 % on the test
set). Then save -> reload into a graph initialised from another seed -> the
predictions must be bit-identical.
"""

import io
import math
import os
import tempfile
import time
import unittest

import numpy as np

import _support
import tinydl as td

EPOCHS = 3
BATCH = 64
LR = 2e-3
SMOOTHING = 0.1
# The C example computes these in float: 1.0f / 0.3530f and -0.2860f / 0.3530f.
SCALE = float(np.float32(1.0) / np.float32(0.3530))
SHIFT = float(np.float32(-0.2860) / np.float32(0.3530))


def build_model(ctx):
    g = td.Graph(ctx)
    x = g.input("x", (td.BATCH, 784))
    y = g.input("y", (td.BATCH,), np.int32)
    xs = g.affine_scalar(x, SCALE, SHIFT)
    h = g.dense(xs, 256, "fc1", init="he_uniform").relu()
    h = g.dense(h, 256, "fc2", init="he_uniform").relu()
    logits = g.dense(h, 10, "fc3")
    loss = g.cross_entropy(logits, y, smoothing=SMOOTHING)
    g.compile()
    return g, x, y, logits, loss


@unittest.skipUnless(_support.fmnist_available(),
                     "Fashion-MNIST not found (set TDL_FMNIST_DIR or install dataset-fashion-mnist)")
class FashionMnistTest(unittest.TestCase):
    def test_mlp_reaches_c_example_accuracy(self):
        with td.Context(threads=2, seed=42) as ctx:
            train, test = td.load_fashion_mnist(ctx, _support.FMNIST_DIR)
            self.assertEqual((len(train), len(test)), (60000, 10000))
            self.assertEqual(train.sample_shape, (28, 28))
            self.assertEqual(train.num_classes, 10)

            g, x, y, logits, loss = build_model(ctx)
            g.build_gradients(loss)
            self.assertIn("fc1.weight", g.summary())
            self.assertEqual(g.param_elements, 784 * 256 + 256 + 256 * 256 + 256 + 2570)

            opt = td.adam(g, LR)
            steps = EPOCHS * math.ceil(len(train) / BATCH)
            opt.set(schedule="cosine", total_steps=steps)

            out = io.StringIO()
            t0 = time.perf_counter()
            history = td.fit(g, x, y, loss, opt, train, epochs=EPOCHS, batch_size=BATCH,
                             logits=logits, shuffle=True, seed=7, file=out)
            train_s = time.perf_counter() - t0
            print("\n" + out.getvalue().rstrip())
            self.assertEqual(len(history), EPOCHS)
            self.assertEqual(opt.steps, steps)
            self.assertIn("epoch 3/3 [########################] 938/938 loss", out.getvalue())
            self.assertIn("acc ", out.getvalue())
            self.assertLess(history[-1]["loss"], history[0]["loss"])

            metrics = ctx.metrics(10)
            acc = td.evaluate(g, x, logits, test, metrics=metrics)
            print("test accuracy: %.2f%% after %d epochs (%.1f s of training, "
                  "C example: 88.82%%)" % (100 * acc, EPOCHS, train_s))
            self.assertGreaterEqual(acc, 0.885)
            self.assertEqual(metrics.count, 10000)
            self.assertAlmostEqual(metrics.accuracy, acc)
            cm = metrics.confusion_matrix()
            self.assertEqual(int(cm.sum()), 10000)
            self.assertEqual(int(np.trace(cm)), round(acc * 10000))
            self.assertIn("accuracy", metrics.report([str(i) for i in range(10)]))

            # all test logits, in one run (x fed as a no-copy view of the dataset)
            g.training = False
            logits_a = g.run(logits, {x: test.x.reshape(-1, 784)})
            self.assertEqual(logits_a.shape, (10000, 10))
            self.assertAlmostEqual(float(np.mean(logits_a.argmax(1) == test.y)), acc)

            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "fmnist_mlp.safetensors")
                g.save_weights(path)
                ctx.seed = 1234  # different init, so the load must do the work
                with build_model(ctx)[0] as r:
                    self.assertFalse(np.array_equal(r["fc1.weight"].data, g["fc1.weight"].data))
                    r.load_weights(path)
                    r.training = False
                    # nodes get the same names in the same build: find it by name
                    logits_b = r.run(logits.name, {"x": test.x.reshape(-1, 784)})
                    self.assertTrue(np.array_equal(logits_a, logits_b))


if __name__ == "__main__":
    unittest.main()
