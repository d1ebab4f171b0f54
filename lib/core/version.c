/* Version and build information. */
#include "config.h"
#include "core/context.h"
#include "kernels/simd_config.h"

#define TDL_STR2(x) #x
#define TDL_STR(x)  TDL_STR2(x)
#define TDL_VERSION_STRING                                                                         \
    TDL_STR(TDL_VERSION_MAJOR) "." TDL_STR(TDL_VERSION_MINOR) "." TDL_STR(TDL_VERSION_PATCH)

#if defined(__clang__)
#define TDL_CC "clang-" TDL_STR(__clang_major__) "." TDL_STR(__clang_minor__)
#elif defined(__GNUC__)
#define TDL_CC "gcc-" TDL_STR(__GNUC__) "." TDL_STR(__GNUC_MINOR__)
#else
#define TDL_CC "unknown"
#endif

#if TDL_HAVE_ZLIB
#define TDL_ZLIB "yes"
#else
#define TDL_ZLIB "no"
#endif

TDL_API const char *tdl_version(void)
{
    return TDL_VERSION_STRING;
}

TDL_API uint32_t tdl_version_number(void)
{
    return TDL_VERSION_MAJOR * 10000u + TDL_VERSION_MINOR * 100u + TDL_VERSION_PATCH;
}

TDL_API const char *tdl_build_info(void)
{
    return "tiny-dl " TDL_VERSION_STRING " simd=" TDL_SIMD_NAME " zlib=" TDL_ZLIB " cc=" TDL_CC;
}
