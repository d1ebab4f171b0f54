/* Internal: memory planning. */
#ifndef TDL_GRAPH_PLAN_H
#define TDL_GRAPH_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"

typedef struct tdl_plan_result {
    size_t arena_bytes; /* peak of the arena */
    size_t naive_bytes; /* sum of every arena tensor */
    size_t param_bytes; /* parameters (+ gradients) and constants */
} tdl_plan_result;

/* last_use of a node that needs arena memory but is outside the committed
 * plan: it has no offset, and a run that needs it must plan again. */
#define TDL_PLAN_UNPLANNED (-2)

/* Plans the arena for `batch` over a scope of nodes: every node that is not
 * dead (scope NULL: what tdl_forward() and tdl_backward() run), or the nodes
 * with scope[id] != 0, which must hold the inputs of each of them (the
 * ancestors of a tdl_run() target). With `commit`, sets every node's last_use
 * and arena_offset (last_use TDL_PLAN_UNPLANNED for arena nodes outside the
 * scope); without, leaves the nodes as they are (a what-if query). Returns 0,
 * or -1 on allocation failure (nothing reported, nodes untouched). */
int tdl_plan_compute(tdl_graph *g, int64_t batch, const unsigned char *scope, int commit,
                     tdl_plan_result *res);

/* 1 when the committed plan gives memory to every node of `scope` (NULL: every
 * node that is not dead) that needs arena memory. */
int tdl_plan_covers(const tdl_graph *g, const unsigned char *scope);

/* 1 when the node's value lives in the arena (not a parameter, constant,
 * input, alias or dead node). */
int tdl_plan_needs_arena(const tdl_node *n);

tdl_node *tdl_plan_root(tdl_node *n);

#endif
