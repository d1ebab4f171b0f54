/* TEMPORARY: the portable tile under this ISA's name until the neon code lands. */
#define tdlk_gemm_generic tdlk_gemm_neon
#include "../gemm_generic.c"
