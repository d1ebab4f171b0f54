/* Whole-file reads that see through gzip compression (when built with zlib). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "io/io_internal.h"

#if TDL_HAVE_ZLIB
#include <zlib.h>
#endif

static int ends_with_gz(const char *path)
{
    size_t n = strlen(path);
    return n >= 3 && strcmp(path + n - 3, ".gz") == 0;
}

/* 1 when the file starts with the gzip magic bytes 1f 8b. */
static int has_gzip_magic(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char m[2];
    size_t n = fread(m, 1, 2, f);
    fclose(f);
    return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

#if TDL_HAVE_ZLIB
static tdl_status read_gz(tdl_ctx *ctx, const char *path, unsigned char **data, size_t *len,
                          char *msg)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        int e = errno;
        return tdl_io_msg(msg, e ? TDL_ERR_IO : TDL_ERR_OUT_OF_MEMORY, "cannot open '%s': %s", path,
                          e ? strerror(e) : "out of memory");
    }
    size_t cap = 1u << 20, n = 0;
    unsigned char *buf = tdl_alloc(ctx, cap + 1);
    if (!buf) {
        gzclose(gz);
        return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > (SIZE_MAX - 1) / 2) {
                tdl_free(ctx, buf);
                gzclose(gz);
                return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY, "'%s' is too large to read", path);
            }
            unsigned char *nb = tdl_realloc(ctx, buf, 2 * cap + 1);
            if (!nb) {
                tdl_free(ctx, buf);
                gzclose(gz);
                return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY,
                                  "out of memory decompressing '%s' (%zu bytes)", path, 2 * cap);
            }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - n;
        if (want > (1u << 30))
            want = 1u << 30; /* gzread takes an unsigned int */
        int got = gzread(gz, buf + n, (unsigned)want);
        if (got < 0)
            break;
        n += (size_t)got;
        if (got == 0)
            break;
    }
    /* A truncated or corrupt stream shows up here, not as a short read. */
    int errnum = Z_OK;
    const char *zmsg = gzerror(gz, &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END) {
        tdl_status st = TDL_ERR_FORMAT;
        char detail[200];
        if (errnum == Z_ERRNO) {
            st = TDL_ERR_IO;
            snprintf(detail, sizeof detail, "%s", strerror(errno));
        } else if (errnum == Z_MEM_ERROR) {
            st = TDL_ERR_OUT_OF_MEMORY;
            snprintf(detail, sizeof detail, "out of memory");
        } else {
            snprintf(detail, sizeof detail, "%s", zmsg ? zmsg : "corrupt data");
        }
        tdl_free(ctx, buf);
        gzclose(gz);
        return tdl_io_msg(msg, st, "cannot decompress '%s': %s", path, detail);
    }
    gzclose(gz);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return TDL_OK;
}
#endif

tdl_status tdl_io_read_maybe_gz(tdl_ctx *ctx, const char *path, unsigned char **data, size_t *len,
                                char *msg)
{
    *data = NULL;
    *len = 0;
    if (!ends_with_gz(path) && !has_gzip_magic(path))
        return tdl_io_read_file(ctx, path, data, len, msg);
    /* A missing file is an i/o error whatever the build (and gzopen would
     * report it only through errno). */
    FILE *f = fopen(path, "rb");
    if (!f)
        return tdl_io_msg(msg, TDL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    fclose(f);
#if TDL_HAVE_ZLIB
    return read_gz(ctx, path, data, len, msg);
#else
    return tdl_io_msg(msg, TDL_ERR_UNSUPPORTED,
                      "'%s' is gzip-compressed and this tiny-dl was built without zlib: "
                      "decompress it first (gunzip -k '%s')",
                      path, path);
#endif
}
