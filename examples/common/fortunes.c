#define _POSIX_C_SOURCE 200809L
#include "fortunes.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *fortunes_default_dir(void)
{
    const char *env = getenv("TDL_FORTUNES_DIR");
    return env && *env ? env : "/usr/share/games/fortunes";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    return 1;
}

/* Splits buf[0..n) into entries appended to f (text copied to f->storage + *used). */
static int parse_file(fortunes *f, int32_t cat, const char *buf, size_t n, size_t *used,
                      int64_t *cap)
{
    size_t start = 0, pos = 0;
    int32_t rank = 0;
    while (pos <= n) {
        size_t eol = pos;
        while (eol < n && buf[eol] != '\n')
            eol++;
        size_t line_len = eol - pos;
        int sep = (line_len == 1 && buf[pos] == '%') ||
                  (line_len == 2 && buf[pos] == '%' && buf[pos + 1] == '\r');
        int last = eol >= n;
        if (sep || last) {
            size_t end = sep ? pos : n; /* the entry is buf[start, end) */
            if (end > start && !blank(buf + start, end - start)) {
                if (f->n_entries == *cap) {
                    *cap = *cap ? 2 * *cap : 4096;
                    fortune *bigger = realloc(f->entries, sizeof(fortune) * (size_t)*cap);
                    if (!bigger)
                        return -1;
                    f->entries = bigger;
                }
                size_t len = end - start;
                memcpy(f->storage + *used, buf + start, len);
                fortune *e = &f->entries[f->n_entries++];
                e->text = f->storage + *used;
                e->len = (int32_t)len;
                e->category = cat;
                e->rank = rank++;
                *used += len;
                f->total_bytes += (int64_t)len;
            }
            start = eol + 1;
        }
        if (last)
            break;
        pos = eol + 1;
    }
    f->per_category[cat] = rank;
    return 0;
}

int fortunes_load(const char *dir, fortunes *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return fail(err, err_size, "cannot open %s: %s (apt-get install fortunes)", dir,
                    strerror(errno));
    char **names = NULL;
    size_t n_names = 0, total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".dat") || ends_with(e->d_name, ".u8"))
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue; /* links (the .u8 ones and any other) and non-files */
        char **bigger = realloc(names, sizeof(char *) * (n_names + 1));
        if (!bigger || !(bigger[n_names] = strdup(e->d_name))) {
            free(bigger ? bigger : names);
            closedir(d);
            return fail(err, err_size, "out of memory");
        }
        names = bigger;
        n_names++;
        total += (size_t)st.st_size;
    }
    closedir(d);
    if (n_names == 0) {
        free(names);
        return fail(err, err_size, "no fortune files in %s", dir);
    }
    qsort(names, n_names, sizeof(char *), cmp_str);
    out->categories = names;
    out->n_categories = (int32_t)n_names;
    out->per_category = calloc(n_names, sizeof(int64_t));
    out->storage = malloc(total + 1);
    char *buf = malloc(total + 1);
    if (!out->per_category || !out->storage || !buf) {
        free(buf);
        fortunes_free(out);
        return fail(err, err_size, "out of memory");
    }
    size_t used = 0;
    int64_t cap = 0;
    for (size_t i = 0; i < n_names; ++i) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *fp = fopen(path, "rb");
        if (!fp) {
            free(buf);
            fortunes_free(out);
            return fail(err, err_size, "cannot open %s: %s", path, strerror(errno));
        }
        /* never more than the size seen by lstat: the storage was sized from it */
        size_t room = total - used, n = fread(buf, 1, room, fp);
        fclose(fp);
        if (parse_file(out, (int32_t)i, buf, n, &used, &cap) != 0) {
            free(buf);
            fortunes_free(out);
            return fail(err, err_size, "out of memory");
        }
    }
    free(buf);
    if (out->n_entries == 0) {
        fortunes_free(out);
        return fail(err, err_size, "no entries in the files of %s", dir);
    }
    return 0;
}

void fortunes_free(fortunes *f)
{
    if (!f)
        return;
    for (int32_t i = 0; i < f->n_categories; ++i)
        free(f->categories[i]);
    free(f->categories);
    free(f->per_category);
    free(f->entries);
    free(f->storage);
    memset(f, 0, sizeof *f);
}
