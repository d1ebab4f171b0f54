/* Internal: counter-based random numbers. A stream is a 64-bit key (derived
 * from the seed and a stream id such as a parameter's name); value i of a
 * stream depends only on (key, i), so any thread may compute any element and
 * results never depend on the thread count. */
#ifndef TDL_CORE_RNG_H
#define TDL_CORE_RNG_H

#include <stdint.h>

/* A strong 64-bit mixer (SplitMix64 finaliser). */
static inline uint64_t tdl_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* FNV-1a hash of a string (stream ids from names). */
uint64_t tdl_hash_str(const char *s);

/* Key of stream `stream` under `seed`. */
static inline uint64_t tdl_rng_key(uint64_t seed, uint64_t stream)
{
    return tdl_mix64(seed ^ tdl_mix64(stream + 0x632be59bd9b4e019ull));
}

/* 64 random bits: element `i` of stream `key`. */
static inline uint64_t tdl_rng_bits(uint64_t key, uint64_t i)
{
    return tdl_mix64(key ^ tdl_mix64(i));
}

/* Uniform in [0, 1) with 24 random bits. */
static inline float tdl_rng_uniform(uint64_t key, uint64_t i)
{
    return (float)(tdl_rng_bits(key, i) >> 40) * (1.0f / 16777216.0f);
}

/* Standard normal (Box-Muller on two independent uniforms). */
float tdl_rng_normal(uint64_t key, uint64_t i);

#endif
