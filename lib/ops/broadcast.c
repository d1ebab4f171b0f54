/* Broadcast iteration helpers. */
#include "ops/broadcast.h"

#include <string.h>

static void strides_for(const tdl_shape *in, const tdl_shape *out, int64_t *st)
{
    int64_t stride = 1;
    for (int32_t i = out->ndim - 1; i >= 0; --i) {
        int32_t j = in->ndim - out->ndim + i;
        int64_t d = j >= 0 ? in->d[j] : 1;
        st[i] = (d == 1 && out->d[i] != 1) ? 0 : stride;
        stride *= d;
    }
}

void tdl_bcast_init(tdl_bcast *bc, const tdl_shape *out, const tdl_shape *a, const tdl_shape *b)
{
    int64_t sa[TDL_MAX_DIMS], sb[TDL_MAX_DIMS];
    memset(bc, 0, sizeof *bc);
    strides_for(a, out, sa);
    strides_for(b, out, sb);
    /* merge dim i into the previous kept one when both inputs are contiguous across it */
    int32_t nd = 0;
    for (int32_t i = 0; i < out->ndim; ++i) {
        if (out->d[i] == 1)
            continue;
        if (nd > 0 && bc->sa[nd - 1] == sa[i] * out->d[i] && bc->sb[nd - 1] == sb[i] * out->d[i]) {
            bc->dims[nd - 1] *= out->d[i];
            bc->sa[nd - 1] = sa[i];
            bc->sb[nd - 1] = sb[i];
            continue;
        }
        if (nd > 0 && bc->sa[nd - 1] == 0 && sa[i] == 0 && bc->sb[nd - 1] == sb[i] * out->d[i]) {
            bc->dims[nd - 1] *= out->d[i];
            bc->sb[nd - 1] = sb[i];
            continue;
        }
        if (nd > 0 && bc->sb[nd - 1] == 0 && sb[i] == 0 && bc->sa[nd - 1] == sa[i] * out->d[i]) {
            bc->dims[nd - 1] *= out->d[i];
            bc->sa[nd - 1] = sa[i];
            continue;
        }
        bc->dims[nd] = out->d[i];
        bc->sa[nd] = sa[i];
        bc->sb[nd] = sb[i];
        nd++;
    }
    if (nd == 0) {
        bc->dims[0] = 1;
        nd = 1;
    }
    bc->nd = nd;
}

void tdl_bcast_row(const tdl_bcast *bc, int64_t row, int64_t *oa, int64_t *ob)
{
    int64_t a = 0, b = 0;
    for (int32_t i = bc->nd - 2; i >= 0; --i) {
        int64_t idx = row % bc->dims[i];
        row /= bc->dims[i];
        a += idx * bc->sa[i];
        b += idx * bc->sb[i];
    }
    *oa = a;
    *ob = b;
}
