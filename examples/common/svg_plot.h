/* A tiny SVG line-chart writer for training curves (no dependencies). */
#ifndef TDL_EXAMPLE_SVG_PLOT_H
#define TDL_EXAMPLE_SVG_PLOT_H

typedef struct plot_series {
    const char *label;
    const char *color;
    const double *y; /* n values, one per epoch */
} plot_series;

/* Writes two panels side by side: loss series (left) and accuracy series
 * (right), x = epoch 1..n. Returns 0, or -1 if the file cannot be written. */
int svg_write_curves(const char *path, const char *title, int n, const plot_series *loss,
                     int n_loss, const plot_series *acc, int n_acc);

#endif
