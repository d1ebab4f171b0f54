/* Parameter initialisers. Fans follow PyTorch's convention for [out, in, k...]. */
#include "nn/init.h"

#include <math.h>

#include <tiny-dl/ops.h>

#include "core/rng.h"

static void fans(const tdl_shape *s, double *fan_in, double *fan_out)
{
    if (s->ndim == 0) {
        *fan_in = *fan_out = 1;
        return;
    }
    if (s->ndim == 1) {
        *fan_in = *fan_out = (double)s->d[0];
        return;
    }
    double receptive = 1;
    for (int32_t i = 2; i < s->ndim; ++i)
        receptive *= (double)s->d[i];
    *fan_out = (double)s->d[0] * receptive;
    *fan_in = (double)s->d[1] * receptive;
}

const char *tdl_init_check(int32_t init, float a, float b, const tdl_shape *shape)
{
    (void)shape;
    if (!isfinite(a) || !isfinite(b))
        return "initialiser arguments must be finite";
    switch (init) {
    case TDL_INIT_ZEROS:
    case TDL_INIT_CONSTANT:
    case TDL_INIT_HE_UNIFORM:
    case TDL_INIT_HE_NORMAL: return NULL;
    case TDL_INIT_UNIFORM: return a < b ? NULL : "uniform initialiser needs a < b";
    case TDL_INIT_NORMAL:
        return b >= 0 ? NULL : "normal initialiser needs a standard deviation b >= 0";
    case TDL_INIT_XAVIER_UNIFORM:
    case TDL_INIT_XAVIER_NORMAL: return a >= 0 ? NULL : "xavier gain a must be >= 0";
    default: return "unknown initialiser (see enum tdl_init)";
    }
}

void tdl_init_fill(float *data, const tdl_shape *shape, int32_t init, float a, float b,
                   uint64_t key)
{
    int64_t n = tdl_shape_numel(shape);
    double fan_in, fan_out;
    fans(shape, &fan_in, &fan_out);
    double gain = a == 0 ? 1.0 : a;
    double lo = 0, hi = 0, mean = 0, std = 0;
    int normal = 0;
    switch (init) {
    case TDL_INIT_ZEROS:
        for (int64_t i = 0; i < n; ++i)
            data[i] = 0;
        return;
    case TDL_INIT_CONSTANT:
        for (int64_t i = 0; i < n; ++i)
            data[i] = a;
        return;
    case TDL_INIT_UNIFORM: lo = a, hi = b; break;
    case TDL_INIT_NORMAL: normal = 1, mean = a, std = b; break;
    case TDL_INIT_XAVIER_UNIFORM: hi = gain * sqrt(6.0 / (fan_in + fan_out)), lo = -hi; break;
    case TDL_INIT_XAVIER_NORMAL: normal = 1, std = gain * sqrt(2.0 / (fan_in + fan_out)); break;
    case TDL_INIT_HE_UNIFORM: hi = sqrt(6.0 / fan_in), lo = -hi; break;
    case TDL_INIT_HE_NORMAL: normal = 1, std = sqrt(2.0 / fan_in); break;
    default: return;
    }
    for (int64_t i = 0; i < n; ++i) {
        if (normal)
            data[i] = (float)(mean + std * tdl_rng_normal(key, (uint64_t)i));
        else
            data[i] = (float)(lo + (hi - lo) * tdl_rng_uniform(key, (uint64_t)i));
    }
}
