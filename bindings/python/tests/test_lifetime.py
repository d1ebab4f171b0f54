"""Handles are freed deterministically; using a closed object raises, never crashes."""

import gc
import unittest
import weakref

import numpy as np

import _support  # noqa: F401  pylint: disable=unused-import
import tinydl as td


def small_graph(ctx):
    g = td.Graph(ctx)
    x = g.input("x", (None, 2))
    loss = g.dense(x, 1, "fc").sum()
    g.compile()
    return g, x, loss


class ContextManagerTest(unittest.TestCase):
    def test_graph_used_after_close_raises(self):
        with td.Context() as ctx:
            with td.Graph(ctx) as g:
                x = g.input("x", (None, 2))
                y = x.relu()
                g.compile()
            self.assertTrue(g.closed)
            self.assertFalse(ctx.closed)
            for call in (g.forward, g.compile, g.summary, lambda: g.params,
                         lambda: g.feed(x, np.zeros((1, 2), np.float32)),
                         lambda: g.run(y), lambda: x.shape, lambda: y.numpy(),
                         lambda: y.relu(), lambda: x + 1, lambda: g.input("z", (1,))):
                with self.assertRaises(td.ClosedError) as cm:
                    call()
                self.assertIn("Graph is closed", str(cm.exception))
                self.assertIsInstance(cm.exception, td.TinyDLError)
            g.close()   # idempotent
            self.assertIn("closed", repr(g))
            self.assertIn("closed", repr(y))
        self.assertTrue(ctx.closed)
        with self.assertRaises(td.ClosedError):
            ctx.threads = 2
        with self.assertRaises(td.ClosedError):
            td.Graph(ctx)

    def test_closing_the_context_closes_what_it_made(self):
        ctx = td.Context()
        g, x, loss = small_graph(ctx)
        opt = td.adam(g, 1e-3)
        ds = td.Dataset.from_arrays(ctx, np.zeros((4, 2)), [0, 1, 0, 1])
        it = ds.batcher(2)
        m = ctx.metrics(2)
        ctx.close()
        for obj in (g, opt, ds, it, m):
            self.assertTrue(obj.closed, obj)
        with self.assertRaises(td.ClosedError):
            opt.step()
        with self.assertRaises(td.ClosedError):
            next(it)
        with self.assertRaises(td.ClosedError):
            len(ds)
        with self.assertRaises(td.ClosedError):
            m.accuracy  # pylint: disable=pointless-statement
        with self.assertRaises(td.ClosedError):
            g.backward(loss)

    def test_closing_a_graph_closes_its_optimizers(self):
        with td.Context() as ctx:
            g, _x, _loss = small_graph(ctx)
            opt = td.sgd(g, 0.1, momentum=0.9)
            g.close()
            self.assertTrue(opt.closed)
            with self.assertRaises(td.ClosedError):
                opt.lr  # pylint: disable=pointless-statement

    def test_closing_a_dataset_closes_its_batchers(self):
        with td.Context() as ctx:
            with td.Dataset.from_arrays(ctx, np.zeros((4, 2)), [0, 1, 0, 1]) as ds:
                it = ds.batcher(3, shuffle=False)
                self.assertEqual(len(it), 2)
            self.assertTrue(it.closed)

    def test_with_on_optimizer_and_metrics(self):
        with td.Context() as ctx, td.Graph(ctx) as g:
            g.param("p", (2,))
            with td.adam(g) as opt:
                self.assertEqual(opt.steps, 0)
            self.assertTrue(opt.closed)
            self.assertFalse(g.closed)
            with ctx.metrics(3) as m:
                m.update([0, 1, 2], [0, 1, 1])
                self.assertAlmostEqual(m.accuracy, 2 / 3)
            self.assertTrue(m.closed)


class ReferenceTest(unittest.TestCase):
    def test_graph_keeps_context_alive_and_frees_it_without_gc(self):
        def make():
            ctx = td.Context(seed=9)
            return td.Graph(ctx), weakref.ref(ctx)

        g, ctx_ref = make()
        gc.collect()
        self.assertIsNotNone(ctx_ref())          # the graph holds its context
        self.assertEqual(g.ctx.seed, 9)
        x = g.input("x", (None, 1))
        g_ref = weakref.ref(g)
        del g
        self.assertIsNotNone(g_ref())            # the node holds its graph
        self.assertEqual(x.name, "x")
        del x
        # no reference cycles: reference counting alone frees everything at once
        self.assertIsNone(g_ref())
        self.assertIsNone(ctx_ref())

    def test_del_frees_handles(self):
        ctx = td.Context()
        ref = ctx._ref  # pylint: disable=protected-access
        g = td.Graph(ctx)
        gref = g._ref  # pylint: disable=protected-access
        opt = td.adam(g)
        oref = opt._ref  # pylint: disable=protected-access
        self.assertEqual(len(gref.children), 1)
        del opt
        self.assertIsNone(oref.ptr)             # optimizer destroyed by __del__
        self.assertEqual(len(gref.children), 0)
        del g
        self.assertIsNone(gref.ptr)
        self.assertEqual(len(ref.children), 0)
        del ctx
        self.assertIsNone(ref.ptr)

    def test_cycles_are_finalised_children_first(self):
        # A reference cycle collected by the GC may finalise the context before
        # the graph: the context then closes its children first.
        ctx = td.Context()
        g = td.Graph(ctx)
        g.cycle = g                              # a cycle through the graph
        ctx.cycle = (ctx, g)
        gref = g._ref  # pylint: disable=protected-access
        cref = ctx._ref  # pylint: disable=protected-access
        del ctx, g
        gc.collect()
        self.assertIsNone(gref.ptr)
        self.assertIsNone(cref.ptr)

    def test_log_callback_is_kept_alive(self):
        messages = []
        ctx = td.Context(log=lambda lvl, msg: messages.append((lvl, msg)), log_level="info")
        gc.collect()
        g, _x, _loss = small_graph(ctx)
        self.assertTrue(any(lvl == td.LOG_INFO and "compiled" in m for lvl, m in messages),
                        messages)
        ctx.set_log(None)
        n = len(messages)
        small_graph(ctx)[0].close()
        self.assertEqual(len(messages), n)
        g.close()
        ctx.close()


if __name__ == "__main__":
    unittest.main()
