/* Human-readable views of a graph: a Keras-style summary table and Graphviz DOT. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph.h"
#include "graph/plan.h"
#include "ops/op.h"

typedef struct text_buf {
    char *buf;
    size_t size, len;
} text_buf;

static void put(text_buf *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(text_buf *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = t->len < t->size ? t->size - t->len : 0;
    int n = vsnprintf(room ? t->buf + t->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
}

TDL_API tdl_status tdl_graph_summary(tdl_graph *g, char *buf, size_t size, size_t *needed)
{
    if (!g || (!buf && size > 0))
        return tdl_fail(g ? g->ctx : NULL, g ? g->error : NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_graph_summary: graph is NULL, or buf is NULL with size > 0");
    text_buf t = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    put(&t, "%-28s %-18s %-20s %12s\n", "node", "op", "output shape", "params");
    put(&t, "%.*s\n", 81,
        "----------------------------------------------------------------------"
        "-----------------");
    int64_t trainable = 0, frozen = 0;
    int32_t shown = 0;
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        const tdl_node *v = g->nodes[i];
        if (v->flags & TDL_NODE_BACKWARD)
            continue;
        char shape[96];
        tdl_shape_str(&v->shape, shape, sizeof shape);
        int64_t count = (v->flags & TDL_NODE_PARAM) ? tdl_shape_numel(&v->shape) : 0;
        if (v->flags & TDL_NODE_PARAM) {
            if (v->trainable)
                trainable += count;
            else
                frozen += count;
        }
        put(&t, "%-28.28s %-18.18s %-20.20s %12lld\n", v->name, v->op->name, shape,
            (long long)count);
        shown++;
    }
    put(&t, "%.*s\n", 81,
        "----------------------------------------------------------------------"
        "-----------------");
    put(&t, "nodes: %d forward, %d in gradient passes\n", (int)shown, (int)(g->n_nodes - shown));
    put(&t, "parameters: %lld (trainable %lld, frozen %lld), %.2f MiB as f32\n",
        (long long)(trainable + frozen), (long long)trainable, (long long)frozen,
        (double)(trainable + frozen) * 4.0 / (1024.0 * 1024.0));
    int64_t batch = g->planned_batch ? g->planned_batch : 1;
    uint64_t arena = 0, naive = 0, pbytes = 0;
    if (g->sticky == TDL_OK && tdl_graph_memory_plan(g, batch, &arena, &naive, &pbytes) == TDL_OK)
        put(&t,
            "memory at batch %lld: activations %.2f MiB planned (%.2f MiB unplanned), "
            "parameters+gradients %.2f MiB\n",
            (long long)batch, (double)arena / 1048576.0, (double)naive / 1048576.0,
            (double)pbytes / 1048576.0);
    if (needed)
        *needed = t.len;
    return TDL_OK;
}

TDL_API tdl_status tdl_graph_write_dot(tdl_graph *g, const char *path, int32_t include_gradients)
{
    if (!g || !path)
        return tdl_fail(g ? g->ctx : NULL, g ? g->error : NULL, TDL_ERR_INVALID_ARGUMENT,
                        "tdl_graph_write_dot: graph or path is NULL");
    FILE *f = fopen(path, "w");
    if (!f)
        return tdl_graph_fail(g, TDL_ERR_IO, "tdl_graph_write_dot: cannot open '%s': %s", path,
                              strerror(errno));
    fprintf(f, "digraph tiny_dl {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (int32_t i = 0; i < g->n_nodes; ++i) {
        const tdl_node *v = g->nodes[i];
        int grad = (v->flags & TDL_NODE_BACKWARD) != 0;
        if ((grad && !include_gradients) || (v->flags & TDL_NODE_DEAD))
            continue;
        char shape[96];
        tdl_shape_str(&v->shape, shape, sizeof shape);
        const char *style = (v->flags & TDL_NODE_PARAM)   ? ", style=filled, fillcolor=\"#fde7c2\""
                            : (v->flags & TDL_NODE_INPUT) ? ", style=filled, fillcolor=\"#cfe8fc\""
                            : grad                        ? ", style=dashed, color=\"#888888\""
                                                          : "";
        fprintf(f, "  n%d [label=\"", (int)i);
        for (const char *c = v->name; *c; ++c) /* escape for DOT strings */
            fprintf(f, (*c == '"' || *c == '\\') ? "\\%c" : "%c", *c);
        fprintf(f, "\\n%s %s\"%s];\n", v->op->name, shape, style);
        for (int32_t j = 0; j < v->n_inputs; ++j)
            fprintf(f, "  n%d -> n%d%s;\n", (int)v->inputs[j]->id, (int)i,
                    grad ? " [style=dashed, color=\"#888888\"]" : "");
    }
    fprintf(f, "}\n");
    if (ferror(f) | (fclose(f) != 0))
        return tdl_graph_fail(g, TDL_ERR_IO, "tdl_graph_write_dot: writing '%s' failed", path);
    return TDL_OK;
}
