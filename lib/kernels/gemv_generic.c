/* The batch-1 dense-layer GEMV (gemv_template.h), portable build: used when
 * no ISA library is linked (simd=none) and on NEON, where vectors are baseline. */
#include "kernels/simd_config.h"
#if TDL_SIMD_NONE || TDL_SIMD_NEON
#define TDLK_GEMV_NAME tdlk_gemv_rows_isa
#include "kernels/gemv_template.h"
#else
typedef int tdlk_gemv_generic_unused;
#endif
