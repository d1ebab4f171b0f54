#define _POSIX_C_SOURCE 200809L
#include "out_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir for one folder; an existing folder is fine, an existing file is not. */
static int make_one(const char *path)
{
    if (mkdir(path, 0777) == 0)
        return 0;
    int saved = errno;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    errno = saved == EEXIST ? ENOTDIR : saved;
    return -1;
}

int out_dir_prepare(const char *dir, char *err, size_t err_size)
{
    if (!dir || !*dir) {
        snprintf(err, err_size, "empty output folder name");
        return -1;
    }
    size_t n = strlen(dir), buf_size = n + 32; /* the folder's name, then the probe file's */
    char *buf = malloc(buf_size);
    if (!buf) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(buf, dir, n + 1);
    /* each parent in turn ("a", "a/b", ...), then the folder itself */
    for (size_t i = 1; i <= n; ++i) {
        if ((buf[i] != '/' && buf[i] != '\0') || buf[i - 1] == '/')
            continue; /* inside a name, or the second slash of "a//b" */
        char saved = buf[i];
        buf[i] = '\0';
        int rc = make_one(buf);
        buf[i] = saved;
        if (rc) {
            snprintf(err, err_size, "cannot create the output folder '%.*s': %s", (int)i, dir,
                     strerror(errno));
            free(buf);
            return -1;
        }
    }

    /* a folder can exist and still refuse files (permissions, read-only file system) */
    snprintf(buf, buf_size, "%s/.tdl-write-check-%ld", dir, (long)getpid());
    FILE *f = fopen(buf, "wb");
    if (!f) {
        snprintf(err, err_size, "cannot write in the output folder '%s': %s", dir, strerror(errno));
        free(buf);
        return -1;
    }
    fclose(f);
    remove(buf);
    free(buf);
    return 0;
}

void out_dir_require(const char *dir)
{
    char err[512];
    if (out_dir_prepare(dir, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}
