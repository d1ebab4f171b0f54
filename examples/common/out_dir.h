/* The examples' output folder (--out): made ready before any training, so that a run never
 * trains for minutes and then fails to save its model. */
#ifndef TDL_EXAMPLE_OUT_DIR_H
#define TDL_EXAMPLE_OUT_DIR_H

#include <stddef.h>

/* Creates `dir` and any missing parent folders, then checks that a file can be created in it.
 * Returns 0 when it can; otherwise -1 with the reason in err (err_size bytes). */
int out_dir_prepare(const char *dir, char *err, size_t err_size);

/* out_dir_prepare(), or the reason on stderr and exit status 2: what every example does first. */
void out_dir_require(const char *dir);

#endif
