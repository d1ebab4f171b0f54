/* The batch-1 dense-layer GEMV (gemv_template.h) built with AVX2 flags. */
#define TDLK_GEMV_NAME tdlk_gemv_rows_isa
#include "kernels/gemv_template.h"
