/* A one-line terminal progress bar: batch count, loss, accuracy, speed, ETA. */
#ifndef TDL_EXAMPLE_PROGRESS_H
#define TDL_EXAMPLE_PROGRESS_H

#include <stdint.h>

typedef struct progress {
    const char *label;
    int64_t total;
    double start;
    double last_draw;
    int tty;
} progress;

double progress_now(void);
void progress_begin(progress *p, const char *label, int64_t total);
/* done: batches finished; items: samples so far (for the speed). */
void progress_update(progress *p, int64_t done, int64_t items, double loss, double acc);
void progress_end(progress *p, int64_t items, double loss, double acc);

#endif
