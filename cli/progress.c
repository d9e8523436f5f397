/*
 * cli/progress.c - one line, redrawn in place on a terminal (never when output goes to
 * a file or a pipe, so scripts see only results): a bar, the percentage, bytes done of
 * all, rows, rate and the time left. Work that ends within two seconds draws nothing.
 * The line goes to standard error and is erased when the work ends, so the result
 * printed after it stands alone.
 */
#include "progress.h"

#include <stdlib.h>
#include <unistd.h>

void cli_progress_init(cli_progress *p, FILE *out, const char *what)
{
    const char *after = getenv("LOCH_PROGRESS_AFTER"); /* seconds; tests set 0 */
    p->out = out && isatty(fileno(out)) ? out : NULL;
    p->what = what;
    p->drawn = 0;
    p->after = after && *after ? atof(after) : 2.0;
}

static void human_bytes(char *out, size_t cap, double b)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1000 && u < 4) {
        b /= 1000;
        u++;
    }
    snprintf(out, cap, u == 0 ? "%.0f %s" : b < 10 ? "%.2f %s" : b < 100 ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static void human_count(char *out, size_t cap, double n)
{
    if (n >= 1e9)
        snprintf(out, cap, "%.2fG", n / 1e9);
    else if (n >= 1e6)
        snprintf(out, cap, "%.2fM", n / 1e6);
    else if (n >= 1e3)
        snprintf(out, cap, "%.1fk", n / 1e3);
    else
        snprintf(out, cap, "%.0f", n);
}

static void human_time(char *out, size_t cap, double s)
{
    if (s >= 3600)
        snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(out, cap, "%ds", (int)(s + 0.5));
}

void cli_progress_ingest(const loch_ingest_progress *p, void *ctx)
{
    cli_progress *c = ctx;
    if (!c->out || p->seconds < c->after || p->bytes_total <= 0)
        return;
    double f = (double)p->bytes_done / (double)p->bytes_total, rate = (double)p->bytes_done / p->seconds;
    char bar[21], done[16], all[16], rows[16], speed[16], eta[16] = "?";
    int filled = (int)(f * 20);
    for (int i = 0; i < 20; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[20] = '\0';
    human_bytes(done, sizeof(done), (double)p->bytes_done);
    human_bytes(all, sizeof(all), (double)p->bytes_total);
    human_count(rows, sizeof(rows), (double)p->rows);
    human_bytes(speed, sizeof(speed), rate);
    if (rate > 0 && f > 0.01)
        human_time(eta, sizeof(eta), (double)(p->bytes_total - p->bytes_done) / rate);
    fprintf(c->out, "\r\033[K%s [%s] %3.0f%%  %s / %s  %s rows  %s/s  ETA %s  %s", c->what, bar, f * 100, done, all,
            rows, speed, eta, p->phase);
    fflush(c->out);
    c->drawn = 1;
}

void cli_progress_done(cli_progress *p)
{
    if (p->out && p->drawn) {
        fputs("\r\033[K", p->out);
        fflush(p->out);
    }
    p->drawn = 0;
}
