/* TEMPORARY: the portable tile under this ISA's name until the avx2 code lands. */
#define tdlk_gemm_generic tdlk_gemm_avx2
#include "../gemm_generic.c"
