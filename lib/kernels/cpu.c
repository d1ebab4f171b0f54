/* tdlk_cpu_supported: does the running CPU have the ISA the kernels were
 * built for? Checked once at context creation (DESIGN §5). */
#include "kernels/kernels.h"
#include "kernels/kernels_isa.h"

#if TDL_SIMD_NEON && defined(__linux__)
#include <sys/auxv.h>
#endif

int tdlk_cpu_supported(void)
{
#if TDL_SIMD_AVX512 || TDL_SIMD_AVX2
    /* __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512
     * register state (XGETBV). */
    __builtin_cpu_init();
#if TDL_SIMD_AVX512
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#elif TDL_SIMD_NEON
#if defined(__linux__) && defined(HWCAP_ASIMD)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#else
    return 1; /* Advanced SIMD is mandatory on AArch64 */
#endif
#else
    return 1;
#endif
}
