/**
 * @file export.h
 * @brief Symbol-visibility and C/C++ linkage macros used by every public header.
 */
#ifndef TINY_DL_EXPORT_H
#define TINY_DL_EXPORT_H

#if defined(_WIN32) && defined(TDL_BUILDING_LIBRARY)
#define TDL_API __declspec(dllexport)
#elif defined(_WIN32)
#define TDL_API __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define TDL_API __attribute__((visibility("default")))
#else
#define TDL_API
#endif

#ifdef __cplusplus
#define TDL_BEGIN_DECLS extern "C" {
#define TDL_END_DECLS   }
#else
#define TDL_BEGIN_DECLS
#define TDL_END_DECLS
#endif

#endif /* TINY_DL_EXPORT_H */
