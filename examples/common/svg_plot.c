#include "svg_plot.h"

#include <math.h>
#include <stdio.h>

#define PANEL_W 420
#define PANEL_H 300
#define MARGIN  50

static void panel(FILE *f, int x0, const char *name, int n, const plot_series *s, int ns)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < ns; ++k)
        for (int i = 0; i < n; ++i)
            if (isfinite(s[k].y[i])) {
                lo = s[k].y[i] < lo ? s[k].y[i] : lo;
                hi = s[k].y[i] > hi ? s[k].y[i] : hi;
            }
    if (!(hi > lo)) {
        lo = isfinite(lo) ? lo - 1 : 0;
        hi = lo + 2;
    }
    double pad = 0.05 * (hi - lo);
    lo -= pad;
    hi += pad;
    int w = PANEL_W - 2 * MARGIN, h = PANEL_H - 2 * MARGIN;
    fprintf(f, "<g transform=\"translate(%d,0)\">\n", x0);
    fprintf(f, "<text x=\"%d\" y=\"30\" font-size=\"15\" text-anchor=\"middle\">%s</text>\n",
            PANEL_W / 2, name);
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
            "stroke=\"#999\"/>\n",
            MARGIN, MARGIN, w, h);
    for (int t = 0; t <= 4; ++t) { /* y ticks */
        double v = lo + (hi - lo) * t / 4.0;
        int y = MARGIN + h - h * t / 4;
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n",
                MARGIN - 4, y + 4, v);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>\n", MARGIN, y,
                MARGIN + w, y);
    }
    for (int i = 0; i < n; ++i) /* x ticks: epochs */
        if (n <= 12 || i % (n / 10 + 1) == 0 || i == n - 1)
            fprintf(f,
                    "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%d</text>\n",
                    MARGIN + (n > 1 ? w * i / (n - 1) : w / 2), MARGIN + h + 16, i + 1);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n",
            MARGIN + w / 2, MARGIN + h + 34);
    for (int k = 0; k < ns; ++k) {
        fprintf(f, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"%s\" points=\"",
                s[k].color);
        for (int i = 0; i < n; ++i) {
            double px = MARGIN + (n > 1 ? (double)w * i / (n - 1) : w / 2.0);
            double py = MARGIN + h - h * (s[k].y[i] - lo) / (hi - lo);
            fprintf(f, "%.1f,%.1f ", px, py);
        }
        fprintf(f, "\"/>\n");
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"%s\">%s</text>\n", MARGIN + 8,
                MARGIN + 16 + 16 * k, s[k].color, s[k].label);
    }
    fprintf(f, "</g>\n");
}

int svg_write_curves(const char *path, const char *title, int n, const plot_series *loss,
                     int n_loss, const plot_series *acc, int n_acc)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\">\n",
            2 * PANEL_W, PANEL_H + 30);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"16\" font-size=\"14\" text-anchor=\"middle\">%s</text>\n",
            PANEL_W, title);
    fprintf(f, "<g transform=\"translate(0,20)\">\n");
    panel(f, 0, "loss", n, loss, n_loss);
    panel(f, PANEL_W, "accuracy", n, acc, n_acc);
    fprintf(f, "</g>\n</svg>\n");
    return (ferror(f) | (fclose(f) != 0)) ? -1 : 0;
}
