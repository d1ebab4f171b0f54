"""Gradients computed by the library match numpy finite differences in float64.

The library computes in float32; the reference function is evaluated in
float64 at the same (float32) point with central differences (h = 1e-6,
truncation error ~h^2, rounding ~1e-16/h = 1e-10), so the tolerances below
only have to absorb the library's float32 rounding.
"""

import unittest

import numpy as np

import _support  # noqa: F401  pylint: disable=unused-import
import tinydl as td

RTOL = 2e-4
ATOL = 2e-5


def numeric_grad(f, p, h=1e-6):
    """Central differences of scalar f at float64 array p (p is restored)."""
    g = np.zeros_like(p)
    it = np.nditer(p, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = p[i]
        p[i] = old + h
        fp = f()
        p[i] = old - h
        fm = f()
        p[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def log_softmax64(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def cross_entropy64(logits, labels, smoothing=0.0):
    n, c = logits.shape
    t = np.full((n, c), smoothing / c)
    t[np.arange(n), labels] += 1.0 - smoothing
    return float(-(t * log_softmax64(logits)).sum() / n)


class TanhMatmulTest(unittest.TestCase):
    """f = sum(tanh(x @ W)): gradient for the parameter W and the input x."""

    def setUp(self):
        self.ctx = td.Context(seed=3)
        self.g = td.Graph(self.ctx)

    def tearDown(self):
        self.g.close()
        self.ctx.close()

    def test_gradient_matches_finite_differences(self):
        g = self.g
        x = g.input("x", (None, 5))
        w = g.param("W", (5, 4), "uniform", -0.8, 0.8)
        f = (x @ w).tanh().sum()
        dx = g.grad(f, x)
        g.compile()

        rng = np.random.default_rng(0)
        xv = rng.uniform(-1, 1, (3, 5)).astype(np.float32)
        g.feed(x, xv)
        g.forward()
        g.backward(f)
        f_value = f.item()
        grad_w = w.grad.copy()
        grad_x = g.run(dx)  # only what dx needs: f's value is gone afterwards

        x64 = xv.astype(np.float64)
        w64 = w.data.astype(np.float64)

        def f64():
            return float(np.tanh(x64 @ w64).sum())

        self.assertAlmostEqual(f_value, f64(), places=5)
        self.assertGreater(np.abs(grad_w).max(), 0.05)  # not trivially zero
        np.testing.assert_allclose(grad_w, numeric_grad(f64, w64), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(grad_x, numeric_grad(f64, x64), rtol=RTOL, atol=ATOL)
        # and the closed form, for good measure
        s = 1 - np.tanh(x64 @ w64) ** 2
        np.testing.assert_allclose(grad_w, x64.T @ s, rtol=RTOL, atol=ATOL)


class SoftmaxCrossEntropyTest(unittest.TestCase):
    """loss = cross_entropy(x @ W + b, labels), with and without label smoothing."""

    def check(self, smoothing):
        with td.Context(seed=11) as ctx, td.Graph(ctx) as g:
            x = g.input("x", (None, 6))
            y = g.input("y", (None,), np.int32)
            w = g.param("W", (6, 4), "normal", 0.0, 0.7)
            b = g.param("b", (4,), "uniform", -0.5, 0.5)
            logits = x @ w + b
            loss = g.cross_entropy(logits, y, smoothing=smoothing)
            g.compile()

            rng = np.random.default_rng(1)
            xv = rng.normal(size=(5, 6)).astype(np.float32)
            yv = np.array([0, 3, 1, 3, 2], np.int32)
            g.forward({x: xv, y: yv})
            g.backward(loss)

            x64 = xv.astype(np.float64)
            w64 = w.data.astype(np.float64)
            b64 = b.data.astype(np.float64)

            def f64():
                return cross_entropy64(x64 @ w64 + b64, yv, smoothing)

            self.assertAlmostEqual(loss.item(), f64(), places=5)
            np.testing.assert_allclose(w.grad, numeric_grad(f64, w64), rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(b.grad, numeric_grad(f64, b64), rtol=RTOL, atol=ATOL)

    def test_plain(self):
        self.check(0.0)

    def test_label_smoothing(self):
        self.check(0.1)


class SoftmaxOpTest(unittest.TestCase):
    """The softmax op itself: d/dz sum(softmax(z) * c) for a constant c."""

    def test_softmax_weighted_sum(self):
        with td.Graph() as g:
            z = g.param("z", (3, 4), "normal", 0.0, 1.0)
            cv = np.arange(12, dtype=np.float32).reshape(3, 4) / 7.0
            f = (z.softmax(axis=-1) * cv).sum()
            g.compile()
            g.forward()
            g.backward(f)
            z64 = z.data.astype(np.float64)

            def f64():
                return float((np.exp(log_softmax64(z64)) * cv.astype(np.float64)).sum())

            self.assertAlmostEqual(f.item(), f64(), places=5)
            np.testing.assert_allclose(z.grad, numeric_grad(f64, z64), rtol=RTOL, atol=ATOL)


if __name__ == "__main__":
    unittest.main()
