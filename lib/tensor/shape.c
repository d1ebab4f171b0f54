/* Shapes with a symbolic batch dimension (see shape.h). */
#include "tensor/shape.h"

#include <stdio.h>
#include <string.h>

int tdl_shape_make(tdl_shape *s, int32_t ndim, const int64_t *dims)
{
    if (ndim < 0 || ndim > TDL_MAX_DIMS)
        return -1;
    memset(s, 0, sizeof *s);
    s->ndim = ndim;
    for (int32_t i = 0; i < ndim; ++i)
        s->d[i] = dims[i];
    return 0;
}

int32_t tdl_shape_symbolic_axis(const tdl_shape *s)
{
    for (int32_t i = 0; i < s->ndim; ++i)
        if (s->d[i] < 0)
            return i;
    return -1;
}

int tdl_shape_is_symbolic(const tdl_shape *s)
{
    return tdl_shape_symbolic_axis(s) >= 0;
}

void tdl_shape_resolve(const tdl_shape *s, int64_t batch, tdl_shape *out)
{
    *out = *s;
    for (int32_t i = 0; i < s->ndim; ++i)
        if (s->d[i] < 0)
            out->d[i] = -s->d[i] * batch;
}

int64_t tdl_shape_numel(const tdl_shape *s)
{
    int64_t n = 1;
    for (int32_t i = 0; i < s->ndim; ++i)
        n *= s->d[i];
    return n;
}

void tdl_shape_factor(const tdl_shape *s, int64_t *known, int64_t *sym_k)
{
    int64_t k = 1, sym = 0;
    for (int32_t i = 0; i < s->ndim; ++i) {
        if (s->d[i] < 0)
            sym = -s->d[i];
        else
            k *= s->d[i];
    }
    *known = k;
    *sym_k = sym;
}

int tdl_shape_equal(const tdl_shape *a, const tdl_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int32_t i = 0; i < a->ndim; ++i)
        if (a->d[i] != b->d[i])
            return 0;
    return 1;
}

void tdl_shape_str(const tdl_shape *s, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, size - used, "[");
    for (int32_t i = 0; i < s->ndim && used < size; ++i) {
        const char *sep = i ? ", " : "";
        if (s->d[i] == -1)
            used += (size_t)snprintf(buf + used, size - used, "%sB", sep);
        else if (s->d[i] < 0)
            used += (size_t)snprintf(buf + used, size - used, "%s%lldB", sep, (long long)-s->d[i]);
        else
            used += (size_t)snprintf(buf + used, size - used, "%s%lld", sep, (long long)s->d[i]);
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

int tdl_shape_broadcast(const tdl_shape *a, const tdl_shape *b, tdl_shape *out)
{
    int32_t nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    tdl_shape r;
    memset(&r, 0, sizeof r);
    r.ndim = nd;
    for (int32_t i = 0; i < nd; ++i) {
        int32_t ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->d[ia] : 1;
        int64_t db = ib >= 0 ? b->d[ib] : 1;
        if (da == db || db == 1)
            r.d[i] = da;
        else if (da == 1)
            r.d[i] = db;
        else
            return -1;
    }
    if (tdl_shape_symbolic_axis(&r) >= 0) {
        /* at most one symbolic dimension */
        int count = 0;
        for (int32_t i = 0; i < nd; ++i)
            count += r.d[i] < 0;
        if (count > 1)
            return -1;
    }
    *out = r;
    return 0;
}

int32_t tdl_shape_axis(int32_t ndim, int32_t axis)
{
    if (axis < 0)
        axis += ndim;
    return (axis < 0 || axis >= ndim) ? -1 : axis;
}
