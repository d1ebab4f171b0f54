/* A program that uses tiny-dl the way a consumer would: it learns XOR and
 * checks the signs of the four logits. Exit 0 when it learned. */
#include <stdio.h>

#include <tiny-dl/tiny-dl.h>

int main(void)
{
    /* C and C++ alike (no compound literals) */
    float x[] = {0, 0, 0, 1, 1, 0, 1, 1}, t[] = {0, 1, 1, 0}, out[4];
    const int64_t in_shape[] = {TDL_BATCH, 2}, t_shape[] = {TDL_BATCH, 1};
    const int64_t x_fed[] = {4, 2}, t_fed[] = {4, 1};
    tdl_ctx *ctx;
    tdl_graph *g;
    tdl_optim *opt;
    if (tdl_version_number() / 100 != TDL_VERSION_NUMBER / 100) {
        fprintf(stderr, "header %d and library %u differ\n", TDL_VERSION_NUMBER,
                (unsigned)tdl_version_number());
        return 1;
    }
    if (tdl_ctx_create(&ctx) != TDL_OK)
        return 1;
    tdl_ctx_set_seed(ctx, 1);
    tdl_graph_create(ctx, &g);
    tdl_node *in = tdl_input(g, "x", TDL_F32, 2, in_shape);
    tdl_node *tg = tdl_input(g, "t", TDL_F32, 2, t_shape);
    tdl_node *y = tdl_dense(g, tdl_tanh(g, tdl_dense(g, in, 8, "h")), 1, "out");
    tdl_node *loss = tdl_bce_with_logits(g, y, tg);
    if (tdl_graph_compile(g) != TDL_OK || tdl_optim_create_adam(g, 0.05f, &opt) != TDL_OK) {
        fprintf(stderr, "%s\n", tdl_last_error());
        return 1;
    }
    tdl_feed(g, in, x, 2, x_fed);
    tdl_feed(g, tg, t, 2, t_fed);
    for (int step = 0; step < 500; ++step)
        if (tdl_forward(g) || tdl_backward(g, loss) || tdl_optim_step(opt))
            return 1;
    tdl_run(g, y);
    tdl_node_read(y, out, sizeof out);
    int ok = out[0] < 0 && out[1] > 0 && out[2] > 0 && out[3] < 0;
    printf("%s: XOR logits %.2f %.2f %.2f %.2f (%s)\n", tdl_build_info(), out[0], out[1], out[2],
           out[3], ok ? "learned" : "NOT learned");
    tdl_optim_destroy(opt);
    tdl_graph_destroy(g);
    tdl_ctx_destroy(ctx);
    return ok ? 0 : 1;
}
