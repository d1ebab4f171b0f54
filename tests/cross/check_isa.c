/* Built by scripts/cross-neon.sh against the cross-built static library and
 * run under qemu-aarch64: the library must be a NEON build (tdl_build_info()
 * and tdlk_isa_name() say so) and must accept the CPU it runs on.
 * Exit status 0 when all holds, 1 otherwise. */
#include <stdio.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tiny-dl/tiny-dl.h"

int main(void)
{
    const char *info = tdl_build_info();
    const char *isa = tdlk_isa_name();
    int supported = tdlk_cpu_supported();
    int ok = 1;

    printf("tdl_build_info(): %s\n", info);
    printf("tdlk_isa_name(): %s\n", isa);
    printf("tdlk_cpu_supported(): %d\n", supported);
#if !defined(__aarch64__)
    printf("check_isa: not compiled for aarch64\n");
    ok = 0;
#endif
    if (strstr(info, " simd=neon ") == NULL) {
        printf("check_isa: tdl_build_info() does not say simd=neon\n");
        ok = 0;
    }
    if (strcmp(isa, "neon") != 0) {
        printf("check_isa: tdlk_isa_name() is not \"neon\"\n");
        ok = 0;
    }
    if (supported != 1) {
        printf("check_isa: tdlk_cpu_supported() rejects this CPU\n");
        ok = 0;
    }
    printf("check_isa: %s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
