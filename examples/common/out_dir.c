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
    size_t n = strlen(dir);
    char *path = malloc(n + 1);
    if (!path) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(path, dir, n + 1);
    /* each parent in turn ("a", "a/b", ...), then the folder itself */
    for (size_t i = 1; i <= n; ++i) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        if (path[i - 1] == '/')
            continue; /* "a//b" */
        char saved = path[i];
        path[i] = '\0';
        int rc = make_one(path);
        path[i] = saved;
        if (rc) {
            snprintf(err, err_size, "cannot create the output folder '%.*s': %s", (int)i, dir,
                     strerror(errno));
            free(path);
            return -1;
        }
    }
    free(path);

    /* a folder can exist and still refuse files (permissions, read-only file system) */
    size_t probe_n = n + 32;
    char *probe = malloc(probe_n);
    if (!probe) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    snprintf(probe, probe_n, "%s/.tdl-write-check-%ld", dir, (long)getpid());
    FILE *f = fopen(probe, "wb");
    if (!f) {
        snprintf(err, err_size, "cannot write in the output folder '%s': %s", dir, strerror(errno));
        free(probe);
        return -1;
    }
    fclose(f);
    remove(probe);
    free(probe);
    return 0;
}
