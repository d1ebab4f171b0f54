#include "core/rng.h"

#include <math.h>

uint64_t tdl_hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; s && *s; ++s) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

float tdl_rng_normal(uint64_t key, uint64_t i)
{
    /* 53-bit uniforms in (0, 1] and [0, 1), so the log never sees 0. */
    double u1 = ((double)(tdl_rng_bits(key, 2 * i) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(tdl_rng_bits(key, 2 * i + 1) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
