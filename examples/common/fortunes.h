/* The fortunes corpus (Debian package `fortunes`): one file per category under
 * /usr/share/games/fortunes, entries separated by lines holding only "%".
 * Files are read in name order; ".dat" and ".u8" files, links and hidden files
 * are skipped; empty (whitespace-only) entries are dropped. The category of an
 * entry is the name of its file. */
#ifndef TDL_EXAMPLE_FORTUNES_H
#define TDL_EXAMPLE_FORTUNES_H

#include <stddef.h>
#include <stdint.h>

typedef struct fortune {
    const char *text; /* the entry's bytes, its last line's "\n" included (not NUL-terminated) */
    int32_t len;      /* bytes in text */
    int32_t category; /* index into fortunes.categories */
    int32_t rank;     /* position of the entry within its category (0, 1, ...) */
} fortune;

typedef struct fortunes {
    char *storage;    /* every entry's text, back to back */
    fortune *entries; /* in file order, then order within the file */
    int64_t n_entries;
    char **categories;     /* file names, sorted */
    int64_t *per_category; /* entries of each category */
    int32_t n_categories;
    int64_t total_bytes; /* sum of the entries' lengths */
} fortunes;

/* $TDL_FORTUNES_DIR if set, else /usr/share/games/fortunes. */
const char *fortunes_default_dir(void);

/* Loads every category of `dir`. Returns 0, or -1 with a message in err (the
 * folder is missing or unreadable, no entries, out of memory). */
int fortunes_load(const char *dir, fortunes *out, char *err, size_t err_size);

void fortunes_free(fortunes *f);

#endif
