"""numpy arrays are fed without copying; parameters are views on library memory."""

import gc
import unittest
import weakref

import numpy as np

import _support  # noqa: F401  pylint: disable=unused-import
import tinydl as td


class FeedTest(unittest.TestCase):
    def setUp(self):
        self.g = td.Graph(td.Context(seed=1))
        g = self.g
        self.x = g.input("x", (None, 3))
        self.w = g.param("W", (3, 2), "uniform", -1, 1)
        self.y = self.x @ self.w
        g.compile()

    def tearDown(self):
        self.g.close()

    def test_mutating_the_fed_array_changes_the_next_forward(self):
        arr = np.arange(6, dtype=np.float32).reshape(2, 3)
        self.g.feed(self.x, arr)
        self.g.forward()
        y1 = self.y.numpy()
        np.testing.assert_allclose(y1, arr @ self.w.data, rtol=1e-6)
        arr *= 3            # in place: the library reads the same memory
        self.g.forward()
        y2 = self.y.numpy()
        np.testing.assert_allclose(y2, 3 * y1, rtol=1e-6)
        arr[1, :] = 0
        np.testing.assert_allclose(self.g.run(self.y)[1], [0, 0])

    def test_the_graph_keeps_the_fed_array_alive(self):
        arr = np.full((4, 3), 2.0, np.float32)
        ref = weakref.ref(arr)
        self.g.feed(self.x, arr)
        del arr
        gc.collect()
        self.assertIsNotNone(ref())          # held by the graph
        np.testing.assert_allclose(self.g.run(self.y), np.full((4, 3), 2.0) @ self.w.data,
                                   rtol=1e-6)
        self.g.feed(self.x, np.ones((1, 3), np.float32))
        gc.collect()
        self.assertIsNone(ref())             # released by the next feed of that input

    def test_a_temporary_array_is_safe(self):
        self.g.feed(self.x, np.ones((5, 3), np.float32) * 0.5)
        gc.collect()
        np.testing.assert_allclose(self.g.run(self.y), np.full((5, 3), 0.5) @ self.w.data,
                                   rtol=1e-6)

    def test_non_contiguous_array_is_copied_once(self):
        big = np.arange(24, dtype=np.float32).reshape(4, 6)
        view = big[:, ::2]                   # [4, 3], not contiguous
        self.assertFalse(view.flags.c_contiguous)
        out = self.g.run(self.y, {self.x: view})
        np.testing.assert_allclose(out, view @ self.w.data, rtol=1e-6)
        big[:] = 0                            # the graph reads its own copy
        np.testing.assert_allclose(self.g.run(self.y), out)

    def test_lists_are_converted(self):
        out = self.g.run(self.y, {"x": [[1, 0, 0], [0, 1, 0]]})
        np.testing.assert_allclose(out, self.w.data[:2], rtol=1e-6)

    def test_read_only_arrays_are_fine(self):
        arr = np.ones((2, 3), np.float32)
        arr.flags.writeable = False
        self.g.feed(self.x, arr)
        self.g.forward()

    def test_node_view_is_no_copy_and_read_only(self):
        self.g.forward({self.x: np.ones((2, 3), np.float32)})
        v = self.y.view()
        np.testing.assert_array_equal(v, self.y.numpy())
        self.assertFalse(v.flags.writeable)
        self.assertEqual(self.y.value_shape, (2, 2))


class ParamViewTest(unittest.TestCase):
    def test_views_share_library_memory(self):
        with td.Context(seed=2) as ctx, td.Graph(ctx) as g:
            x = g.input("x", (None, 2))
            fc = g.dense(x, 3, "fc")
            loss = (fc * fc).mean()
            g.compile()
            w = g["fc.weight"]
            b = g["fc.bias"]
            self.assertIsInstance(w, td.Param)
            self.assertEqual([p.name for p in g.params], ["fc.weight", "fc.bias"])
            self.assertEqual(w.shape, (3, 2))

            data = w.data
            self.assertTrue(data.flags.writeable)
            self.assertEqual(data.ctypes.data, w.data.ctypes.data)   # same memory each time
            # writing through the view changes what the graph computes
            data[...] = [[1, 0], [0, 1], [1, 1]]
            b.data[...] = [0.5, 0, 0]
            xv = np.array([[2, 3]], np.float32)
            np.testing.assert_allclose(g.run(fc, {x: xv}), [[2.5, 3, 5]])

            # backward fills the grad view; an optimizer step updates `data` in place
            g.forward()
            g.backward(loss)
            expected = (2.0 / 3.0) * np.outer([2.5, 3, 5], [2, 3])
            np.testing.assert_allclose(w.grad, expected, rtol=1e-6)
            before = data.copy()
            opt = td.sgd(g, 0.1)
            opt.step()
            np.testing.assert_allclose(data, before - 0.1 * expected, rtol=1e-6)

            # gradients are writable: zeroing one freezes that step for it
            g.forward()
            g.backward(loss)
            w.grad[...] = 0
            before = data.copy()
            opt.step()
            np.testing.assert_array_equal(data, before)

    def test_view_keeps_the_graph_alive(self):
        g = td.Graph()
        g.param("p", (4,), "constant", 3.0)
        ref = weakref.ref(g)
        view = g["p"].data
        del g
        gc.collect()
        self.assertIsNotNone(ref())
        np.testing.assert_array_equal(view, [3, 3, 3, 3])
        del view
        gc.collect()
        self.assertIsNone(ref())

    def test_frozen_param(self):
        with td.Graph() as g:
            x = g.input("x", (None, 1))
            loss = g.dense(x, 1, "fc").sum()
            g.compile()
            g["fc.bias"].trainable = False
            self.assertFalse(g["fc.bias"].trainable)
            opt = td.sgd(g, 1.0)
            g.forward({x: np.ones((2, 1), np.float32)})
            g.backward(loss)
            opt.step()
            np.testing.assert_array_equal(g["fc.bias"].data, [0])

    def test_dataset_views(self):
        with td.Context() as ctx:
            xs = np.arange(12, dtype=np.float32).reshape(6, 2)
            ys = np.array([0, 1, 2, 0, 1, 2])
            ds = td.Dataset.from_arrays(ctx, xs, ys)
            np.testing.assert_array_equal(ds.x, xs)
            np.testing.assert_array_equal(ds.y, ys)
            self.assertFalse(ds.x.flags.writeable)
            xs[:] = -1                         # from_arrays copies
            self.assertEqual(ds.x[0, 1], 1)


if __name__ == "__main__":
    unittest.main()
