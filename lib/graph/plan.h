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

/* Sets every node's last_use and arena_offset for `batch`. Returns 0, or -1
 * on allocation failure (nothing reported). */
int tdl_plan_compute(tdl_graph *g, int64_t batch, tdl_plan_result *res);
tdl_node *tdl_plan_root(tdl_node *n);

#endif
