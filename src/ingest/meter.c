/*
 * ingest/meter.c - the progress of an ingest, for a display (the progress callback of
 * loch_ingest_options).
 *
 * The scans count the bytes they pass (from any thread), the writes say which file the
 * engine is writing, and the engine says how far its statement is; a helper thread puts
 * these together and calls the callback five times a second. Scanning is about a
 * quarter of the work per byte, writing the rest. What is reported never goes back
 * (bytes or rows), though the estimate behind it may.
 *
 * The callback runs on the helper thread only, and never after meter_stop returns.
 */
#include "ingest/ingest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "util/misc.h"

static void meter_report(meter *m)
{
    static const char *const phases[] = {"scanning", "writing", "committing"};
    int64_t engine_rows = 0, writing = atomic_load(&m->writing);
    double f = writing ? compute_progress(m->cp, &engine_rows) : -1;
    f = f > 0 ? f : 0;
    double done = 0.25 * (double)atomic_load(&m->scanned) +
                  0.75 * ((double)atomic_load(&m->written) + f * (double)writing);
    loch_ingest_progress p = {.file = atomic_load(&m->file), .phase = phases[atomic_load(&m->phase)],
                              .bytes_done = (int64_t)done, .bytes_total = m->total,
                              .rows = atomic_load(&m->rows) + (int64_t)(f * (double)atomic_load(&m->expect)),
                              .seconds = time_mono() - m->started};
    p.bytes_done = p.bytes_done > p.bytes_total ? p.bytes_total : p.bytes_done < m->shown ? m->shown : p.bytes_done;
    m->shown = p.bytes_done;
    p.rows = p.rows < m->shown_rows ? m->shown_rows : p.rows;
    m->shown_rows = p.rows;
    m->cb(&p, m->ctx);
}

static void *meter_run(void *arg)
{
    meter *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&m->cv, &m->mu, &until);
        if (!m->stop) {
            pthread_mutex_unlock(&m->mu);
            meter_report(m);
            pthread_mutex_lock(&m->mu);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

void meter_start(meter *m, loch_lake *lake, const loch_ingest_options *opts, int64_t total)
{
    if (opts->version < 2 || !opts->progress)
        return;
    m->cb = opts->progress;
    m->ctx = opts->progress_ctx;
    m->cp = lake->cp;
    m->total = total;
    if (compute_track_progress(m->cp, true) < 0) /* a meter without the engine's part */
        error_clear();
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->running = pthread_create(&m->thread, NULL, meter_run, m) == 0;
    if (!m->running) {
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
    }
}

void meter_stop(meter *m)
{
    if (!m->running)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    m->running = 0;
    /* tracking off again, unless that could replace the error of an ingest that failed
     * (left on, it only costs the session's later statements a little) */
    const char *pending = loch_error_last();
    if ((!pending || !*pending) && compute_track_progress(m->cp, false) < 0)
        error_clear();
}
