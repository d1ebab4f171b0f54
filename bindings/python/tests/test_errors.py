"""Failures raise the exception class of their status code, with the library's message."""

import os
import tempfile
import unittest

import numpy as np

import _support  # noqa: F401  pylint: disable=unused-import
import tinydl as td


class BuilderErrorsTest(unittest.TestCase):
    def test_shape_mismatch_raises_at_once_and_sticks(self):
        with td.Graph() as g:
            a = g.input("a", (None, 3))
            w = g.param("W", (4, 5))
            with self.assertRaises(td.ShapeError) as cm:
                g.matmul(a, w)
            e = cm.exception
            self.assertEqual(e.status, -2)
            self.assertIsInstance(e, ValueError)
            self.assertIsInstance(e, td.TinyDLError)
            # the library's own message, naming the op, the nodes and the shapes
            self.assertIn("matmul", str(e))
            self.assertIn("'a' [B, 3]", str(e))
            self.assertIn("'W' [4, 5]", str(e))
            self.assertEqual(str(e), g.error)
            self.assertEqual(g.status, -2)
            # sticky: the first error comes back from later builders and compile()
            with self.assertRaises(td.ShapeError) as cm2:
                a.relu()
            self.assertEqual(str(cm2.exception), str(e))
            with self.assertRaises(td.ShapeError) as cm3:
                g.compile()
            self.assertEqual(str(cm3.exception), str(e))

    def test_operator_shape_error(self):
        with td.Graph() as g:
            a = g.input("a", (None, 3))
            b = g.input("b", (None, 4))
            with self.assertRaises(td.ShapeError) as cm:
                a + b  # pylint: disable=pointless-statement
            self.assertIn("add", str(cm.exception))

    def test_dtype_error(self):
        with td.Graph() as g:
            labels = g.input("labels", (None,), np.int32)
            with self.assertRaises(td.DTypeError) as cm:
                g.dense(labels.reshape(-1, 1), 4, "fc")
            self.assertEqual(cm.exception.status, -3)
            self.assertIsInstance(cm.exception, TypeError)
            self.assertTrue(str(cm.exception))

    def test_node_of_another_graph(self):
        with td.Graph() as g1, td.Graph() as g2:
            a = g1.input("a", (2,))
            b = g2.input("b", (2,))
            with self.assertRaises(td.InvalidArgumentError):
                a + b  # pylint: disable=pointless-statement
            with self.assertRaises(td.InvalidArgumentError):
                g2.feed(a, np.zeros(2, np.float32))

    def test_unknown_name(self):
        with td.Graph() as g:
            with self.assertRaises(td.NotFoundError) as cm:
                g["nope"]  # pylint: disable=pointless-statement
            self.assertIsInstance(cm.exception, LookupError)
            self.assertIn("nope", str(cm.exception))
            with self.assertRaises(td.NotFoundError):
                g.feed("nope", [1.0])


class RunErrorsTest(unittest.TestCase):
    def setUp(self):
        self.g = td.Graph()
        g = self.g
        self.x = g.input("x", (None, 3))
        self.y = (self.x @ g.param("W", (3, 2))).sum()

    def tearDown(self):
        self.g.close()

    def test_uncompiled_run(self):
        with self.assertRaises(td.StateError) as cm:
            self.g.forward()
        self.assertIn("compile", str(cm.exception))
        self.assertEqual(cm.exception.status, -8)
        with self.assertRaises(td.StateError):
            self.g.run(self.y)

    def test_input_not_fed(self):
        self.g.compile()
        with self.assertRaises(td.StateError) as cm:
            self.g.forward()
        self.assertIn("'x'", str(cm.exception))
        self.assertIn("not fed", str(cm.exception))

    def test_bad_feed_shape(self):
        self.g.compile()
        with self.assertRaises(td.ShapeError) as cm:
            self.g.feed(self.x, np.zeros((2, 4), np.float32))
        msg = str(cm.exception)
        self.assertIn("'x'", msg)
        self.assertIn("[B, 3]", msg)   # both shapes are in the library's message
        self.assertIn("[2, 4]", msg)
        self.assertEqual(msg, td.last_error())
        with self.assertRaises(td.ShapeError):
            self.g.feed(self.x, np.zeros((3,), np.float32))

    def test_bad_feed_dtype(self):
        self.g.compile()
        with self.assertRaises(td.DTypeError) as cm:
            self.g.feed(self.x, np.zeros((2, 3)))          # float64
        self.assertIn("float64", str(cm.exception))
        with self.assertRaises(td.DTypeError):
            self.g.feed(self.x, np.zeros((2, 3), np.int32))

    def test_backward_on_non_scalar(self):
        self.g.compile()
        with self.assertRaises(td.ShapeError) as cm:
            self.g.build_gradients(self.x)
        self.assertIn("x", str(cm.exception))
        with self.assertRaises(td.StateError):   # backward needs a forward first
            self.g.backward(self.y)

    def test_non_finite(self):
        with td.Graph() as g:
            g.constant([-1.0, 1.0]).log()
            g.compile()
            g.forward()            # off by default
            g.check_finite = True
            with self.assertRaises(td.NonFiniteError) as cm:
                g.forward()
            self.assertIn("non-finite", str(cm.exception))
            self.assertIsInstance(cm.exception, FloatingPointError)

    def test_label_out_of_range(self):
        with td.Graph() as g:
            logits = g.input("logits", (None, 3))
            labels = g.input("labels", (None,), np.int32)
            g.cross_entropy(logits, labels)
            g.compile()
            g.feed({logits: np.zeros((2, 3), np.float32), labels: np.array([0, 7], np.int32)})
            with self.assertRaises(td.InvalidArgumentError):
                g.forward()


class WeightFileErrorsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "w.safetensors")
        self.g = td.Graph(td.Context(seed=5))
        x = self.g.input("x", (None, 4))
        self.g.dense(x, 3, "fc")
        self.g.save_weights(self.path)

    def tearDown(self):
        self.g.close()
        self.tmp.cleanup()

    def corrupt(self, data):
        with open(self.path, "wb") as f:
            f.write(data)

    def test_truncated_file(self):
        with open(self.path, "rb") as f:
            data = f.read()
        self.corrupt(data[:-5])
        before = self.g["fc.weight"].data.copy()
        with self.assertRaises(td.FormatError) as cm:
            self.g.load_weights(self.path)
        self.assertIn(self.path, str(cm.exception))
        self.assertEqual(cm.exception.status, -6)
        np.testing.assert_array_equal(self.g["fc.weight"].data, before)  # untouched

    def test_garbage_header(self):
        self.corrupt(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + b"\0" * 32)
        with self.assertRaises(td.FormatError):
            self.g.load_weights(self.path)

    def test_huge_header_length(self):
        self.corrupt(b"\xff" * 8 + b"{}")
        with self.assertRaises(td.FormatError):
            self.g.load_weights(self.path)

    def test_missing_file(self):
        with self.assertRaises(td.FileIOError) as cm:
            self.g.load_weights(self.path + ".nope")
        self.assertIsInstance(cm.exception, OSError)
        self.assertIn("No such file", str(cm.exception))
        self.assertEqual(cm.exception.status, -5)

    def test_other_model(self):
        with td.Graph() as other:
            other.dense(other.input("x", (None, 4)), 3, "other")
            with self.assertRaises(td.NotFoundError) as cm:
                other.load_weights(self.path)
            self.assertTrue(str(cm.exception))
            other.load_weights(self.path, allow_missing=True, allow_unused=True)

    def test_wrong_shape(self):
        with td.Graph() as other:
            other.dense(other.input("x", (None, 5)), 3, "fc")
            with self.assertRaises(td.ShapeError) as cm:
                other.load_weights(self.path)
            self.assertIn("fc.weight", str(cm.exception))


class OtherErrorsTest(unittest.TestCase):
    def test_context_threads(self):
        with self.assertRaises(td.InvalidArgumentError) as cm:
            td.Context(threads=0)
        self.assertIn("threads", str(cm.exception))
        with td.Context() as ctx:
            with self.assertRaises(td.InvalidArgumentError):
                ctx.threads = 1000

    def test_optimizer_message(self):
        with td.Graph() as g:
            x = g.input("x", (None, 2))
            loss = g.dense(x, 1, "fc").sum()
            g.compile()
            opt = td.adam(g, 1e-3, schedule="cosine")   # no total_steps
            g.forward({x: np.ones((2, 2), np.float32)})
            g.backward(loss)
            with self.assertRaises(td.InvalidArgumentError) as cm:
                opt.step()
            self.assertIn("TOTAL_STEPS", str(cm.exception))
            self.assertEqual(str(cm.exception), opt.error)
            self.assertEqual(opt.steps, 0)
            with self.assertRaises(td.NotFoundError):
                opt.add_group("nothing.")
            with self.assertRaises(td.InvalidArgumentError):
                opt.set(lr=-1)
            with self.assertRaises(TypeError):
                opt.set(learning_rate=0.1)

    def test_dataset_files(self):
        with td.Context() as ctx:
            with self.assertRaises(td.FileIOError) as cm:
                td.Dataset.load_idx(ctx, "/nonexistent/images", "/nonexistent/labels")
            self.assertIn("/nonexistent/images", str(cm.exception))
            with tempfile.NamedTemporaryFile() as f:
                f.write(b"not an idx file at all")
                f.flush()
                with self.assertRaises(td.FormatError):
                    td.Dataset.load_idx(ctx, f.name, f.name)

    def test_error_classes(self):
        self.assertIs(td.error_class(-2), td.ShapeError)
        self.assertIs(td.error_class(-8), td.StateError)
        self.assertIs(td.error_class(-99), td.TinyDLError)
        self.assertEqual(td.ShapeError("m").status_string, td.status_string(-2))


if __name__ == "__main__":
    unittest.main()
