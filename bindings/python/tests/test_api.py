"""The rest of the surface: library info, operators, builders, optimizers, data, fit."""

import io
import math
import os
import tempfile
import unittest

import numpy as np

import _support  # noqa: F401  pylint: disable=unused-import
import tinydl as td


class InfoTest(unittest.TestCase):
    def test_version(self):
        v = td.version()
        self.assertRegex(v, r"^\d+\.\d+\.\d+")
        major, minor, patch = (int(p) for p in v.split(".")[:3])
        self.assertEqual(td.version_number(), major * 10000 + minor * 100 + patch)
        self.assertIn("tiny-dl " + v, td.build_info())
        self.assertTrue(td.library_path())
        self.assertEqual(td.status_string(0), td.status_string(td.TinyDLError("x").status or 0))


class OperatorTest(unittest.TestCase):
    def setUp(self):
        self.g = td.Graph()
        self.a = self.g.input("a", (None, 3))
        self.b = self.g.input("b", (None, 3))
        self.av = np.array([[1, -2, 3], [4, 5, -6]], np.float32)
        self.bv = np.array([[2, 2, 2], [1, -1, 0.5]], np.float32)
        self.g.compile()   # nodes added later make the graph re-plan itself
        self.g.feed({self.a: self.av, self.b: self.bv})

    def tearDown(self):
        self.g.close()

    def run_(self, node):
        return self.g.run(node)

    def test_binary_and_scalar(self):
        a, b, av, bv = self.a, self.b, self.av, self.bv
        cases = [(a + b, av + bv), (a - b, av - bv), (a * b, av * bv), (a / b, av / bv),
                 (a + 1.5, av + 1.5), (2 + a, 2 + av), (a - 1, av - 1), (1 - a, 1 - av),
                 (a * 3, av * 3), (np.float32(3) * a, 3 * av), (a / 4, av / 4),
                 (2 / b, 2 / bv), (-a, -av), (+a, av),
                 (a + np.array([1, 2, 3], np.float32), av + [1, 2, 3]),
                 (a @ np.eye(3, 2, dtype=np.float32), av @ np.eye(3, 2))]
        for node, expected in cases:
            with self.subTest(node=repr(node)):
                np.testing.assert_allclose(self.run_(node), expected, rtol=1e-6)

    def test_unary_and_reductions(self):
        a, av = self.a, self.av.astype(np.float64)
        cases = [(a.relu(), np.maximum(av, 0)), (a.tanh(), np.tanh(av)),
                 (a.sigmoid(), 1 / (1 + np.exp(-av))), (a.exp(), np.exp(av)),
                 (a.leaky_relu(0.1), np.where(av > 0, av, 0.1 * av)),
                 (a.elu(), np.where(av > 0, av, np.exp(av) - 1)),
                 (a.sum(), av.sum()), (a.sum(axis=1), av.sum(1)),
                 (a.mean(axis=0, keepdims=True), av.mean(0, keepdims=True)),
                 (a.max(axis=-1), av.max(-1)),
                 (a.softmax(), np.exp(av) / np.exp(av).sum(1, keepdims=True)),
                 (a.reshape(-1, 1), av.reshape(-1, 1)), (a.T, av.T),
                 (a.permute(1, 0), av.T), (a.slice(1, 0, 2), av[:, :2]),
                 (self.g.concat([a, a], axis=1), np.concatenate([av, av], 1))]
        for node, expected in cases:
            with self.subTest(node=repr(node)):
                np.testing.assert_allclose(self.run_(node), expected, rtol=1e-5, atol=1e-6)

    def test_node_properties(self):
        n = self.g.relu(self.a)
        self.assertEqual(n.op, "relu")
        self.assertEqual(n.shape, (-1, 3))
        self.assertEqual(n.dtype, np.float32)
        self.assertEqual(self.g.input("lbl", (None,), "int32").dtype, np.int32)
        self.assertEqual(self.g[n.name], n)
        self.assertIn(n.name, self.g)
        self.assertEqual(len({n, self.g[n.name]}), 1)
        self.assertIn("relu", repr(n))


class TrainingTest(unittest.TestCase):
    def blobs(self, n=300, seed=0):
        rng = np.random.default_rng(seed)
        centers = np.array([[2, 0], [-2, 0], [0, 2.5]], np.float32)
        y = rng.integers(0, 3, n).astype(np.int32)
        x = centers[y] + rng.normal(scale=0.6, size=(n, 2)).astype(np.float32)
        return x, y

    def test_fit_evaluate_and_progress(self):
        x_np, y_np = self.blobs()
        with td.Context(threads=2, seed=4) as ctx, td.Graph(ctx) as g:
            train = td.Dataset.from_arrays(ctx, x_np, y_np)
            self.assertEqual((len(train), train.sample_shape, train.num_classes), (300, (2,), 3))
            x = g.input("x", (None, 2))
            y = g.input("y", (None,), np.int32)
            logits = g.dense(g.dense(x, 16, "h", init="he_normal").relu(), 3, "out")
            loss = g.cross_entropy(logits, y)
            g.compile()
            opt = td.adamw(g, 0.02, weight_decay=0.0, schedule="step", step_size=20, gamma=0.5)
            out = io.StringIO()
            seen = []
            hist = td.fit(g, x, y, loss, opt, train, epochs=4, batch_size=32, logits=logits,
                          seed=1, file=out, callback=seen.append)
            self.assertEqual(len(hist), 4)
            self.assertEqual(seen, hist)
            self.assertEqual(opt.steps, 4 * math.ceil(300 / 32))
            self.assertAlmostEqual(opt.lr, 0.02 * 0.5 ** (opt.steps // 20), places=7)
            lines = out.getvalue().splitlines()
            self.assertEqual(len(lines), 4)
            self.assertRegex(lines[-1], r"^epoch 4/4 \[#+\] 10/10 loss \d+\.\d{4} acc "
                                        r"\d+\.\d\d% \d+ samples/s took \d+\.\ds$")
            self.assertGreater(hist[-1]["accuracy"], 0.9)
            acc = td.evaluate(g, x, logits, train)
            self.assertGreater(acc, 0.9)
            self.assertTrue(g.training)       # restored
            # the stop callback and quiet mode
            hist = td.fit(g, x, y, loss, opt, train, epochs=5, batch_size=64, verbose=False,
                          callback=lambda s: s["epoch"] == 2)
            self.assertEqual(len(hist), 2)
            self.assertIsNone(hist[0]["accuracy"])

    def test_optimizers_and_groups(self):
        for make in (lambda g: td.sgd(g, 0.1, momentum=0.9, nesterov=True),
                     lambda g: td.adam(g, 0.01, betas=(0.8, 0.99), eps=1e-7),
                     lambda g: td.adamw(g, 0.01),
                     lambda g: td.rmsprop(g, 0.01, alpha=0.9),
                     lambda g: td.Optimizer(g, "adam", 0.01, clip_norm=1.0, warmup_steps=2)):
            with td.Graph(td.Context(seed=3)) as g:
                x = g.input("x", (None, 2))
                body = g.dense(x, 4, "body").tanh()
                t = g.input("t", (None, 1))
                loss = g.mse_loss(g.dense(body, 1, "head"), t)
                g.compile()
                opt = make(g)
                head = opt.add_group("head.", lr=1e-9, weight_decay=0.0)
                frozen = opt.add_group("body.bias")
                frozen.set(frozen=True)
                self.assertEqual([gr.id for gr in opt.groups], [0, head.id, frozen.id])
                w_head = g["head.weight"].data.copy()
                b_body = g["body.bias"].data.copy()
                w_body = g["body.weight"].data.copy()
                g.feed({x: np.array([[0.5, -1]], np.float32), t: [[1.0]]})
                first = None
                for _ in range(5):
                    g.forward()
                    first = loss.item() if first is None else first
                    g.backward(loss)
                    opt.step()
                self.assertEqual(opt.steps, 5)
                self.assertGreater(opt.last_grad_norm, 0)
                np.testing.assert_allclose(g["head.weight"].data, w_head, atol=1e-6)  # lr 1e-9
                np.testing.assert_array_equal(g["body.bias"].data, b_body)     # frozen
                self.assertFalse(np.array_equal(g["body.weight"].data, w_body))
                self.assertLess(g.run(loss), first)

    def test_clip_grad_norm(self):
        with td.Graph() as g:
            p = g.param("p", (2,), "constant", 1.0)
            loss = (p * 10.0).sum()
            g.compile()
            g.forward()
            g.backward(loss)
            norm = g.clip_grad_norm(1.0)
            self.assertAlmostEqual(norm, math.sqrt(200), places=4)
            self.assertAlmostEqual(float(np.linalg.norm(p.grad)), 1.0, places=5)


class DataTest(unittest.TestCase):
    def test_batcher_iterates_epochs(self):
        with td.Context() as ctx:
            x = np.arange(20, dtype=np.float32).reshape(10, 2)
            ds = td.Dataset.from_arrays(ctx, x, np.arange(10) % 3)
            it = ds.batcher(4, shuffle=False)
            self.assertEqual(len(it), 3)
            sizes = [(bx.shape, by.shape) for bx, by in it]
            self.assertEqual(sizes, [((4, 2), (4,)), ((4, 2), (4,)), ((2, 2), (2,))])
            ys = np.concatenate([by.copy() for _bx, by in it])   # second epoch
            np.testing.assert_array_equal(ys, np.arange(10) % 3)
            shuffled = np.concatenate([by.copy() for _bx, by in ds.batcher(4, seed=3)])
            self.assertEqual(sorted(shuffled.tolist()), sorted((np.arange(10) % 3).tolist()))
            ds.truncate(5)
            self.assertEqual(len(ds), 5)

    def test_metrics(self):
        with td.Context() as ctx, ctx.metrics(3) as m:
            scores = np.array([[3, 1, 0], [0, 2, 1], [0, 0, 1], [1, 0, 0]], np.float32)
            m.update_scores(scores, [0, 1, 1, 2])
            self.assertEqual(m.count, 4)
            self.assertAlmostEqual(m.accuracy, 0.5)
            self.assertEqual(m.confusion(1, 2), 1)
            np.testing.assert_array_equal(m.confusion_matrix(),
                                          [[1, 0, 0], [0, 1, 1], [1, 0, 0]])
            p, r, f1 = m.class_stats(1)
            self.assertEqual((p, r), (1.0, 0.5))
            self.assertAlmostEqual(f1, 2 / 3)
            self.assertGreater(m.macro_f1, 0)
            rep = m.report(["cat", "dog", "cow"])
            self.assertIn("dog", rep)
            m.reset()
            self.assertEqual(m.count, 0)
            with self.assertRaises(td.InvalidArgumentError):
                m.update([0], [5])


class FilesTest(unittest.TestCase):
    def test_summary_dot_plan_and_weights(self):
        with td.Context(seed=1) as ctx, td.Graph(ctx) as g, \
                tempfile.TemporaryDirectory() as tmp:
            x = g.input("x", (None, 8))
            out = g.dense(g.dense(x, 16, "a").gelu(), 4, "b", bias=False, init="xavier_normal")
            g.compile()
            self.assertEqual(g.param_count, 3)
            self.assertEqual(g.param_elements, 8 * 16 + 16 + 16 * 4)
            self.assertIn("b.weight", g.summary())
            plan = g.memory_plan(32)
            self.assertGreater(plan.naive_bytes, 0)
            self.assertLessEqual(plan.arena_bytes, plan.naive_bytes)
            dot = os.path.join(tmp, "g.dot")
            g.write_dot(dot, include_gradients=True)
            with open(dot, encoding="utf-8") as f:
                self.assertIn("digraph", f.read())
            path = os.path.join(tmp, "w.safetensors")
            g.save_weights(path)
            state = g.state_dict()
            g["a.weight"].data[...] = 0
            g.load_weights(path)
            np.testing.assert_array_equal(g["a.weight"].data, state["a.weight"])
            xv = np.ones((2, 8), np.float32)
            self.assertEqual(g.run(out, {x: xv}).shape, (2, 4))


if __name__ == "__main__":
    unittest.main()
