/* File helpers: whole-file reads, atomic replacement, little-endian floats. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/rng.h"
#include "io/io_internal.h"

tdl_status tdl_io_msg(char *msg, tdl_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, TDL_ERRMSG_MAX, fmt, ap);
    va_end(ap);
    return status;
}

tdl_status tdl_io_read_file(tdl_ctx *ctx, const char *path, unsigned char **data, size_t *len,
                            char *msg)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tdl_io_msg(msg, TDL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));

    /* Start from the size fstat reports, then grow if the file turns out
     * longer (pipes, files still being written). */
    size_t cap = 65536;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
        (uint64_t)st.st_size < (uint64_t)SIZE_MAX - 1)
        cap = (size_t)st.st_size;
    unsigned char *buf = tdl_alloc(ctx, cap + 1);
    if (!buf) {
        fclose(f);
        return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY, "out of memory reading '%s' (%zu bytes)",
                          path, cap);
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            int c = fgetc(f);
            if (c == EOF)
                break;
            size_t ncap = cap < 65536 ? 65536 : cap;
            if (ncap > (SIZE_MAX - 1) / 2) {
                tdl_free(ctx, buf);
                fclose(f);
                return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY, "'%s' is too large to read", path);
            }
            ncap *= 2;
            unsigned char *nb = tdl_realloc(ctx, buf, ncap + 1);
            if (!nb) {
                tdl_free(ctx, buf);
                fclose(f);
                return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY,
                                  "out of memory reading '%s' (%zu bytes)", path, ncap);
            }
            buf = nb;
            cap = ncap;
            buf[n++] = (unsigned char)c;
        }
        size_t want = cap - n;
        size_t got = fread(buf + n, 1, want, f);
        n += got;
        if (got < want)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        tdl_free(ctx, buf);
        fclose(f);
        return tdl_io_msg(msg, TDL_ERR_IO, "cannot read '%s': %s", path, strerror(e));
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return TDL_OK;
}

tdl_status tdl_io_writer_open(tdl_io_writer *w, tdl_ctx *ctx, const char *path, char *msg)
{
    w->ctx = ctx;
    w->path = path;
    w->fd = -1;
    size_t plen = strlen(path);
    /* path + ".tmp-" + 16 hex digits + NUL */
    if (plen > SIZE_MAX - 32) {
        w->tmp_path = NULL;
        return tdl_io_msg(msg, TDL_ERR_INVALID_ARGUMENT, "path is too long");
    }
    w->tmp_path = tdl_alloc(ctx, plen + 32);
    if (!w->tmp_path)
        return tdl_io_msg(msg, TDL_ERR_OUT_OF_MEMORY, "out of memory writing '%s'", path);

    /* A name no other writer uses: O_EXCL makes a clash fail, and then the
     * next attempt draws another suffix. */
    uint64_t seed = (uint64_t)getpid() ^ ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)w;
    for (uint64_t attempt = 0; attempt < 64; ++attempt) {
        uint64_t r = tdl_mix64(seed + attempt * 0x9e3779b97f4a7c15ull);
        snprintf(w->tmp_path, plen + 32, "%s.tmp-%016llx", path, (unsigned long long)r);
        w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (w->fd >= 0)
            return TDL_OK;
        if (errno != EEXIST)
            break;
    }
    int e = errno;
    tdl_free(ctx, w->tmp_path);
    w->tmp_path = NULL;
    return tdl_io_msg(msg, TDL_ERR_IO, "cannot create a temporary file next to '%s': %s", path,
                      strerror(e));
}

tdl_status tdl_io_writer_write(tdl_io_writer *w, const void *data, size_t len, char *msg)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t chunk = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len;
        ssize_t n = write(w->fd, p, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            tdl_io_writer_abort(w);
            return tdl_io_msg(msg, TDL_ERR_IO, "cannot write '%s': %s", w->path, strerror(e));
        }
        p += n;
        len -= (size_t)n;
    }
    return TDL_OK;
}

/* Makes the rename itself durable (best effort: some file systems refuse). */
static void sync_parent_dir(tdl_ctx *ctx, const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = tdl_strdup(ctx, ".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = tdl_alloc(ctx, n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = 0;
        }
    }
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    tdl_free(ctx, dir);
}

tdl_status tdl_io_writer_commit(tdl_io_writer *w, char *msg)
{
    if (fsync(w->fd) != 0 && errno != EINVAL && errno != EROFS) {
        int e = errno;
        tdl_io_writer_abort(w);
        return tdl_io_msg(msg, TDL_ERR_IO, "cannot sync '%s': %s", w->path, strerror(e));
    }
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0) {
        int e = errno;
        tdl_io_writer_abort(w);
        return tdl_io_msg(msg, TDL_ERR_IO, "cannot write '%s': %s", w->path, strerror(e));
    }
    if (rename(w->tmp_path, w->path) != 0) {
        int e = errno;
        tdl_io_writer_abort(w);
        return tdl_io_msg(msg, TDL_ERR_IO, "cannot rename the temporary file to '%s': %s", w->path,
                          strerror(e));
    }
    tdl_free(w->ctx, w->tmp_path);
    w->tmp_path = NULL;
    sync_parent_dir(w->ctx, w->path);
    return TDL_OK;
}

void tdl_io_writer_abort(tdl_io_writer *w)
{
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->tmp_path) {
        unlink(w->tmp_path);
        tdl_free(w->ctx, w->tmp_path);
        w->tmp_path = NULL;
    }
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

void tdl_io_f32_to_le(unsigned char *dst, const float *src, size_t n)
{
    if (host_is_little_endian()) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        for (int k = 0; k < 4; ++k)
            dst[4 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
    }
}

void tdl_io_f32_from_le(float *dst, const unsigned char *src, size_t n)
{
    if (host_is_little_endian()) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        const unsigned char *p = src + 4 * i;
        uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                     ((uint32_t)p[3] << 24);
        memcpy(&dst[i], &u, 4);
    }
}
