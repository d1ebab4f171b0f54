#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_begin(progress *p, const char *label, int64_t total)
{
    p->label = label;
    p->total = total;
    p->start = progress_now();
    p->last_draw = 0;
    p->tty = isatty(fileno(stdout));
}

static void draw(progress *p, int64_t done, int64_t items, double loss, double acc, int final)
{
    double el = progress_now() - p->start;
    double rate = el > 0 ? (double)items / el : 0;
    double eta = done > 0 ? el * (double)(p->total - done) / (double)done : 0;
    int width = 24, fill = p->total ? (int)(width * done / p->total) : width;
    char bar[32];
    for (int i = 0; i < width; ++i)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    printf("%s%s [%s] %lld/%lld loss %.4f acc %.2f%% %.0f img/s %s %.1fs%s", p->tty ? "\r" : "",
           p->label, bar, (long long)done, (long long)p->total, loss, 100.0 * acc, rate,
           final ? "took" : "ETA", final ? el : eta, final || !p->tty ? "\n" : "");
    fflush(stdout);
}

void progress_update(progress *p, int64_t done, int64_t items, double loss, double acc)
{
    double t = progress_now();
    if (!p->tty || t - p->last_draw < 0.1)
        return;
    p->last_draw = t;
    draw(p, done, items, loss, acc, 0);
}

void progress_end(progress *p, int64_t items, double loss, double acc)
{
    draw(p, p->total, items, loss, acc, 1);
}
