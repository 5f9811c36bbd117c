/* The bulk ingest job (cdx_ingest_run): five stages joined by bounded queues.
 *
 *   reader (1)     sources -> items                                  q_read
 *   decode (W)     read, hash, dedupe, decode + preprocess (item.c)   q_ready
 *   batcher (1)    tensors -> a batch of `rows` pixels               q_embed
 *   embed (1)      the image tower, in batch-bucket chunks           q_write
 *   writer (1)     captions, one put_batch per batch, dead letters  -> batches back to the pool
 *
 * Memory is bounded by the queues and the pool of batches: a slow stage
 * blocks the one before it. W decode workers run, of which `active` may take
 * work: the progress clock re-balances active from measured costs (decode
 * CPU time per image against tower time per image) unless the user fixed
 * the count. A stop request (or a fatal error) ends reading; workers drop
 * what they have not started; everything started is written; the store is
 * checkpointed. */
#include "common/clock.h"
#include "common/escape.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/sysinfo.h"
#include "common/threads.h"
#include "common/util.h"
#include "ingest/ingest_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int stop_requested;

void cdx_ingest_request_stop(void) { atomic_store(&stop_requested, 1); }

cdx_ingest_params cdx_ingest_default_params(void)
{
    return (cdx_ingest_params){
        .batch = 0,
        .captions = 0,
        .retry_failed = 0,
        .force = 0,
        .trust_mtime = 0,
        .extensions = NULL,
        .decode_workers = 0,
        .progress = CDX_INGEST_PROGRESS_AUTO,
        .progress_fd = 2,
        .progress_interval = 0,
        .limit = 0,
        .decode_nice = 0,
    };
}

const char *cdx_ingest_outcome_name(enum cdx_ingest_outcome o)
{
    static const char *const names[] = {"embedded", "reused", "unchanged", "known_failure", "failed"};
    return (unsigned)o < CDX_ARRAY_LEN(names) ? names[o] : "?";
}

enum { ST_READ, ST_DECODE, ST_BATCH, ST_EMBED, ST_WRITE, ST_COUNT };
static const char *const stage_names[ST_COUNT] = {"read", "decode", "batch", "embed", "write"};
enum { Q_READ, Q_READY, Q_EMBED, Q_WRITE, Q_COUNT };
static const char *const queue_names[Q_COUNT] = {"read", "ready", "embed", "write"};

typedef struct batch {
    job_item **items;
    int32_t n, cap;
    float *pixels;       /* rows x tensor_floats */
    int32_t *embed_idx;  /* items[embed_idx[k]] owns pixel row k */
    int32_t n_embed;
    float *vectors;      /* rows x dim */
} batch;

typedef struct job job;

typedef struct worker {
    job *j;
    int32_t index;
    pthread_t thread;
} worker;

struct job {
    ingest_ctx ctx;
    cdx_ingest_params p;
    const cdx_contract_spec *spec;
    cdx_source *src;
    failure_set failures;     /* known failures (this contract) */
    failure_set retry_only;   /* retry mode without sources: the tar members to retry */
    int retry_filter;
    inflight_table inflight;
    cdx_queue *q[Q_COUNT];
    cdx_queue *q_free;        /* the batch pool */
    batch *batches;
    int32_t n_batches, rows;
    /* decode workers */
    worker *workers;
    int32_t n_workers, fixed_workers;
    atomic_int active;
    atomic_int tower_waiting; /* the image tower is waiting for a batch */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    int gate_open_all;        /* end of stream: every worker drains */
    /* measurements */
    _Atomic int64_t busy_ns[ST_COUNT];
    _Atomic uint64_t stage_items[ST_COUNT];
    _Atomic int64_t decode_cpu_ns;
    _Atomic uint64_t decoded;
    _Atomic uint64_t embedded_rows;
    double depth_sum[Q_COUNT];
    uint64_t depth_samples;
    /* counts */
    _Atomic uint64_t seen, outcome[CDX_INGEST_OUTCOME_COUNT], failed_read, failed_decode, failed_embed, captions,
        batches_run, dropped;
    _Atomic int64_t total;    /* -1 unknown */
    atomic_int total_estimated;
    _Atomic int64_t tar_done, tar_total;
    /* ending */
    atomic_int fatal;
    pthread_mutex_t err_mu;
    cdx_errbuf err;
    atomic_int finished;      /* the writer is done */
    volatile int prescan_stop;
    int64_t t0;
    const char *const *specs;
    int32_t n_specs;
};

static int stopping(job *j) { return atomic_load(&stop_requested) || atomic_load(&j->fatal); }

static void set_fatal(job *j, const cdx_errbuf *eb)
{
    pthread_mutex_lock(&j->err_mu);
    if (!atomic_load(&j->fatal)) {
        j->err = *eb;
        atomic_store(&j->fatal, 1);
    }
    pthread_mutex_unlock(&j->err_mu);
}

static void add_busy(job *j, int stage, int64_t since)
{
    atomic_fetch_add(&j->busy_ns[stage], cdx_clock_ns() - since);
    atomic_fetch_add(&j->stage_items[stage], 1);
}

static uint64_t done_count(job *j)
{
    uint64_t d = 0;
    for (int i = 0; i < CDX_INGEST_OUTCOME_COUNT; i++)
        d += atomic_load(&j->outcome[i]);
    return d;
}

/* ---- reader ------------------------------------------------------------------------- */

/* --trust-mtime: an item whose size and mtime match the catalog is
 * unchanged without being read. 1 when it was. */
static int unchanged_by_mtime(job *j, job_item *it, cdx_errbuf *eb)
{
    cdx_source_item *s = it->src;
    if (!j->p.trust_mtime || j->p.force || !s->path || s->error)
        return 0;
    if (s->size < 0) {
        struct stat st;
        if (stat(s->path, &st) != 0)
            return 0;
        s->size = (int64_t)st.st_size;
        s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    cdx_item_state st = {0};
    if (cdx_store_lookup_uri(j->ctx.store, s->uri, &st, eb) != CDX_OK)
        return -1;
    return st.found && st.has_vector && st.bytes == s->size && st.mtime_ns == s->mtime_ns && s->mtime_ns != 0;
}

static void *reader_main(void *arg)
{
    job *j = arg;
    cdx_errbuf eb = {0};
    for (;;) {
        if (stopping(j) || (j->p.limit > 0 && (int64_t)atomic_load(&j->seen) >= j->p.limit))
            break;
        int64_t t = cdx_clock_ns();
        cdx_source_item *si = NULL;
        int r = cdx_source_next(j->src, &si, &eb);
        if (r < 0) {
            set_fatal(j, &eb);
            break;
        }
        if (r == 0)
            break;
        int64_t done_b, total_b;
        cdx_source_tar_progress(j->src, &done_b, &total_b);
        atomic_store(&j->tar_done, done_b);
        atomic_store(&j->tar_total, total_b);
        /* Retrying failures: from a shard, only its failed members. */
        cdx_hash128 h;
        int has;
        if (j->retry_filter && si->data && !failure_set_find(&j->retry_only, si->uri, &h, &has)) {
            cdx_source_item_free(si);
            continue;
        }
        atomic_fetch_add(&j->seen, 1);
        job_item *it = job_item_new(si);
        if (!it) {
            cdx_source_item_free(si);
            cdx_errbuf_set(&eb, CDX_ERR_NOMEM, "ingest: out of memory");
            set_fatal(j, &eb);
            break;
        }
        int u = unchanged_by_mtime(j, it, &eb);
        if (u < 0) {
            job_item_free(&j->ctx, it);
            set_fatal(j, &eb);
            break;
        }
        add_busy(j, ST_READ, t);
        if (u == 1) {
            atomic_fetch_add(&j->outcome[CDX_INGEST_OUTCOME_UNCHANGED], 1);
            job_item_free(&j->ctx, it);
            continue;
        }
        if (cdx_queue_push(j->q[Q_READ], it) != CDX_OK) {
            job_item_free(&j->ctx, it);
            break;
        }
    }
    cdx_queue_close(j->q[Q_READ]);
    return NULL;
}

/* ---- decode workers --------------------------------------------------------------------- */

/* Workers past `active` wait here until the balance lets them in or the stream ends. */
static void gate(worker *w)
{
    job *j = w->j;
    if (w->index < atomic_load(&j->active))
        return;
    pthread_mutex_lock(&j->gate_mu);
    while (w->index >= atomic_load(&j->active) && !j->gate_open_all)
        pthread_cond_wait(&j->gate_cv, &j->gate_mu);
    pthread_mutex_unlock(&j->gate_mu);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    job *j = w->j;
    cdx_threads_enter_omp();
    if (j->p.decode_nice > 0) { /* per thread on Linux: a thread id is a process id here */
        errno = 0;
        int now = getpriority(PRIO_PROCESS, (id_t)gettid());
        if (errno == 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), CDX_MIN(now + j->p.decode_nice, 19)) != 0)
            cdx_log_debug("ingest", "decode worker priority: %s", strerror(errno));
    }
    cdx_errbuf eb = {0};
    for (;;) {
        gate(w);
        job_item *it;
        if (cdx_queue_pop(j->q[Q_READ], (void **)&it) != CDX_OK)
            break;
        if (stopping(j)) { /* not started: the next run picks it up */
            atomic_fetch_add(&j->dropped, 1);
            job_item_free(&j->ctx, it);
            continue;
        }
        int64_t t = cdx_clock_ns(), cpu = cdx_clock_thread_cpu_ns();
        int rc = ingest_prepare(&j->ctx, it, &eb);
        add_busy(j, ST_DECODE, t);
        if (it->kind == JOB_EMBED || (it->kind == JOB_FAILED && it->stage && strcmp(it->stage, "decode") == 0)) {
            atomic_fetch_add(&j->decode_cpu_ns, cdx_clock_thread_cpu_ns() - cpu);
            atomic_fetch_add(&j->decoded, 1);
        }
        if (rc != CDX_OK) {
            set_fatal(j, &eb);
            if (it->kind != JOB_FOLLOWER)
                job_item_free(&j->ctx, it);
            continue;
        }
        switch (it->kind) {
        case JOB_UNCHANGED:
        case JOB_KNOWN_FAILURE:
            atomic_fetch_add(&j->outcome[it->kind == JOB_UNCHANGED ? CDX_INGEST_OUTCOME_UNCHANGED
                                                                    : CDX_INGEST_OUTCOME_KNOWN_FAILURE],
                             1);
            job_item_free(&j->ctx, it);
            break;
        case JOB_FOLLOWER: break; /* owned by the in-flight entry now */
        default:
            if (cdx_queue_push(j->q[Q_READY], it) != CDX_OK)
                job_item_free(&j->ctx, it);
        }
    }
    return NULL;
}

/* ---- batcher ------------------------------------------------------------------------------ */

static void batch_reset(batch *b)
{
    b->n = 0;
    b->n_embed = 0;
}

static void *batcher_main(void *arg)
{
    job *j = arg;
    batch *b = NULL;
    /* A partial batch goes after this long without new items, but only when
     * the tower would otherwise sit idle (or it needs no tower run): a slow
     * source must not hold finished work back, and a busy tower must not be
     * handed small batches. */
    const int64_t idle_ns = 200 * 1000000LL;
    for (;;) {
        job_item *it;
        int r = b && b->n ? cdx_queue_pop_until(j->q[Q_READY], (void **)&it, cdx_clock_ns() + idle_ns)
                          : cdx_queue_pop(j->q[Q_READY], (void **)&it);
        if (r == CDX_ERR_TIMEOUT) {
            if (b->n_embed == 0 || (atomic_load(&j->tower_waiting) && cdx_queue_depth(j->q[Q_EMBED]) == 0)) {
                cdx_queue_push(j->q[Q_EMBED], b);
                b = NULL;
            }
            continue;
        }
        if (r != CDX_OK)
            break;
        int64_t t = cdx_clock_ns();
        if (!b) {
            if (cdx_queue_pop(j->q_free, (void **)&b) != CDX_OK) {
                job_item_free(&j->ctx, it);
                break;
            }
            batch_reset(b);
        }
        if (it->kind == JOB_EMBED) {
            memcpy(b->pixels + (size_t)b->n_embed * j->ctx.tensor_floats, it->tensor,
                   j->ctx.tensor_floats * sizeof(float));
            ingest_tensor_put(&j->ctx, it->tensor);
            it->tensor = NULL;
            b->embed_idx[b->n_embed++] = b->n;
        }
        b->items[b->n++] = it;
        add_busy(j, ST_BATCH, t);
        if (b->n_embed == j->rows || b->n == b->cap) {
            cdx_queue_push(j->q[Q_EMBED], b);
            b = NULL;
        }
    }
    if (b && b->n)
        cdx_queue_push(j->q[Q_EMBED], b);
    else if (b)
        cdx_queue_push(j->q_free, b);
    cdx_queue_close(j->q[Q_EMBED]);
    return NULL;
}

/* ---- image tower ----------------------------------------------------------------------------- */

static void *embed_main(void *arg)
{
    job *j = arg;
    cdx_threads_enter_omp();
    batch *b;
    for (;;) {
        atomic_store(&j->tower_waiting, 1);
        int r = cdx_queue_pop(j->q[Q_EMBED], (void **)&b);
        atomic_store(&j->tower_waiting, 0);
        if (r != CDX_OK)
            break;
        int64_t t = cdx_clock_ns();
        cdx_errbuf eb = {0};
        int rc = CDX_OK;
        for (int32_t off = 0; off < b->n_embed && rc == CDX_OK;) {
            int32_t k = ingest_chunk_rows(j->spec, b->n_embed - off);
            rc = cdx_encoder_embed_pixels(j->ctx.enc, b->pixels + (size_t)off * j->ctx.tensor_floats, k,
                                          b->vectors + (size_t)off * (size_t)j->ctx.dim, &eb);
            off += k;
        }
        for (int32_t k = 0; k < b->n_embed; k++) {
            job_item *it = b->items[b->embed_idx[k]];
            if (rc != CDX_OK) {
                job_item_fail(it, "embed", rc, cdx_errbuf_msg(&eb));
                continue;
            }
            if (!(it->vector = malloc((size_t)j->ctx.dim * sizeof(float)))) {
                job_item_fail(it, "embed", CDX_ERR_NOMEM, "out of memory");
                continue;
            }
            memcpy(it->vector, b->vectors + (size_t)k * (size_t)j->ctx.dim, (size_t)j->ctx.dim * sizeof(float));
        }
        if (b->n_embed) {
            add_busy(j, ST_EMBED, t);
            atomic_fetch_add(&j->embedded_rows, (uint64_t)b->n_embed);
            atomic_fetch_add(&j->batches_run, 1);
        }
        cdx_queue_push(j->q[Q_WRITE], b);
    }
    cdx_queue_close(j->q[Q_WRITE]);
    return NULL;
}

/* ---- writer --------------------------------------------------------------------------------- */

static void *writer_main(void *arg)
{
    job *j = arg;
    cdx_threads_enter_omp();
    batch *b;
    while (cdx_queue_pop(j->q[Q_WRITE], (void **)&b) == CDX_OK) {
        int64_t t = cdx_clock_ns();
        if (!atomic_load(&j->fatal)) {
            ingest_counts c = {0};
            cdx_errbuf eb = {0};
            if (ingest_write(&j->ctx, b->items, b->n, &c, &eb) != CDX_OK)
                set_fatal(j, &eb);
            for (int i = 0; i < CDX_INGEST_OUTCOME_COUNT; i++)
                atomic_fetch_add(&j->outcome[i], c.outcome[i]);
            atomic_fetch_add(&j->failed_read, c.failed_read);
            atomic_fetch_add(&j->failed_decode, c.failed_decode);
            atomic_fetch_add(&j->failed_embed, c.failed_embed);
            atomic_fetch_add(&j->captions, c.captions);
        }
        for (int32_t i = 0; i < b->n; i++)
            job_item_free(&j->ctx, b->items[i]);
        batch_reset(b);
        add_busy(j, ST_WRITE, t);
        cdx_queue_push(j->q_free, b);
    }
    atomic_store(&j->finished, 1);
    return NULL;
}

/* ---- progress ----------------------------------------------------------------------------------- */

static void fmt_duration(double s, char *buf, size_t cap)
{
    if (!(s >= 0) || s > 99 * 3600)
        snprintf(buf, cap, "?");
    else if (s >= 3600)
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static int64_t current_total(job *j, int *estimated)
{
    int64_t total = atomic_load(&j->total);
    *estimated = atomic_load(&j->total_estimated);
    int64_t tb = atomic_load(&j->tar_total), db = atomic_load(&j->tar_done);
    if (total < 0 && tb > 0 && db > 0) {
        total = (int64_t)((double)atomic_load(&j->seen) * (double)tb / (double)db);
        *estimated = 1;
    }
    return total;
}

static void report(job *j, int final)
{
    enum cdx_ingest_progress mode = j->p.progress;
    if (mode == CDX_INGEST_PROGRESS_NONE)
        return;
    double el = (double)(cdx_clock_ns() - j->t0) / 1e9;
    uint64_t done = done_count(j);
    uint64_t imgs = atomic_load(&j->outcome[CDX_INGEST_OUTCOME_EMBEDDED]) +
                    atomic_load(&j->outcome[CDX_INGEST_OUTCOME_REUSED]);
    int est;
    int64_t total = current_total(j, &est);
    double rate = el > 0 ? (double)done / el : 0, irate = el > 0 ? (double)imgs / el : 0;
    double eta = total > 0 && rate > 0 ? (double)(total - (int64_t)done) / rate : -1;
    size_t depth[Q_COUNT], cap[Q_COUNT];
    for (int q = 0; q < Q_COUNT; q++) {
        cdx_queue_stats st;
        cdx_queue_get_stats(j->q[q], &st);
        depth[q] = st.depth, cap[q] = st.capacity;
    }
    char line[768];
    int n;
    if (mode == CDX_INGEST_PROGRESS_JSON) {
        n = snprintf(line, sizeof line,
                     "{\"type\":\"progress\",\"elapsed_s\":%.2f,\"done\":%llu,\"total\":%lld,\"total_estimated\":%s,"
                     "\"embedded\":%llu,\"reused\":%llu,\"unchanged\":%llu,\"known_failures\":%llu,\"failed\":%llu,"
                     "\"images_per_s\":%.2f,\"items_per_s\":%.2f,\"eta_s\":%.1f,\"workers\":%d,\"rss_bytes\":%llu,"
                     "\"peak_rss_bytes\":%llu,\"queues\":{\"read\":%zu,\"ready\":%zu,\"embed\":%zu,\"write\":%zu}}\n",
                     el, (unsigned long long)done, (long long)total, est ? "true" : "false",
                     (unsigned long long)atomic_load(&j->outcome[0]), (unsigned long long)atomic_load(&j->outcome[1]),
                     (unsigned long long)atomic_load(&j->outcome[2]), (unsigned long long)atomic_load(&j->outcome[3]),
                     (unsigned long long)atomic_load(&j->outcome[4]), irate, rate, eta, atomic_load(&j->active),
                     (unsigned long long)cdx_current_rss_bytes(), (unsigned long long)cdx_peak_rss_bytes(), depth[Q_READ], depth[Q_READY], depth[Q_EMBED], depth[Q_WRITE]);
    } else {
        char eta_s[32], tot[32];
        fmt_duration(eta, eta_s, sizeof eta_s);
        if (total >= 0)
            snprintf(tot, sizeof tot, "%s%lld", est ? "~" : "", (long long)total);
        else
            snprintf(tot, sizeof tot, "?");
        n = snprintf(line, sizeof line,
                     "\r\033[K%llu/%s  %.1f img/s  ETA %s  failed %llu  queues read %zu/%zu ready %zu/%zu embed %zu/%zu "
                     "write %zu/%zu  decoders %d%s",
                     (unsigned long long)done, tot, irate, eta_s, (unsigned long long)atomic_load(&j->outcome[4]),
                     depth[Q_READ], cap[Q_READ], depth[Q_READY], cap[Q_READY], depth[Q_EMBED], cap[Q_EMBED],
                     depth[Q_WRITE], cap[Q_WRITE], atomic_load(&j->active), final ? "\n" : "");
    }
    if (n > 0) {
        ssize_t w = write(j->p.progress_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
}

/* Re-balances the decode workers from what was measured since the start. */
static void balance(job *j)
{
    if (j->fixed_workers)
        return;
    uint64_t decoded = atomic_load(&j->decoded), rows = atomic_load(&j->embedded_rows);
    if (decoded < 8 || rows < 8)
        return;
    double decode_ms = (double)atomic_load(&j->decode_cpu_ns) / 1e6 / (double)decoded;
    double tower_ms = (double)atomic_load(&j->busy_ns[ST_EMBED]) / 1e6 / (double)rows;
    int32_t want = cdx_threads_balance_workers(decode_ms, tower_ms, j->n_workers);
    if (want != atomic_load(&j->active)) {
        cdx_log_debug("ingest", "decode workers %d -> %d (decode %.1f ms CPU/image, tower %.1f ms/image)",
                      atomic_load(&j->active), want, decode_ms, tower_ms);
        pthread_mutex_lock(&j->gate_mu);
        atomic_store(&j->active, want);
        pthread_cond_broadcast(&j->gate_cv);
        pthread_mutex_unlock(&j->gate_mu);
    }
}

static void *progress_main(void *arg)
{
    job *j = arg;
    double interval = j->p.progress_interval > 0 ? j->p.progress_interval
                      : j->p.progress == CDX_INGEST_PROGRESS_JSON ? 2.0
                                                                   : 0.5;
    int64_t next_report = cdx_clock_ns() + (int64_t)(interval * 1e9), next_balance = cdx_clock_ns() + 1000000000LL;
    while (!atomic_load(&j->finished)) {
        usleep(50000);
        for (int q = 0; q < Q_COUNT; q++)
            j->depth_sum[q] += (double)cdx_queue_depth(j->q[q]);
        j->depth_samples++;
        int64_t now = cdx_clock_ns();
        if (now >= next_balance) {
            balance(j);
            next_balance = now + 2000000000LL;
        }
        if (now >= next_report) {
            report(j, 0);
            next_report = now + (int64_t)(interval * 1e9);
        }
    }
    return NULL;
}

static void *prescan_main(void *arg)
{
    job *j = arg;
    cdx_source_params sp = cdx_source_default_params();
    sp.extensions = j->p.extensions;
    int32_t est = 0;
    int64_t n = cdx_source_count(j->specs, j->n_specs, &sp, 0, &est, &j->prescan_stop);
    if (!j->prescan_stop) {
        if (j->p.limit > 0 && (n < 0 || n > j->p.limit))
            n = j->p.limit;
        atomic_store(&j->total_estimated, est);
        atomic_store(&j->total, n);
    }
    return NULL;
}

/* ---- setup --------------------------------------------------------------------------------------- */

static int32_t default_rows(const cdx_contract_spec *s)
{
    int32_t best = 0;
    for (int32_t i = 0; i < s->n_batch_buckets; i++)
        if (s->batch_buckets[i] <= 32 && s->batch_buckets[i] > best)
            best = s->batch_buckets[i];
    return best ? best : s->n_batch_buckets ? s->batch_buckets[0] : 1;
}

static int alloc_batches(job *j, cdx_errbuf *eb)
{
    j->n_batches = 4; /* one filling, one in the tower, one being written, one queued */
    if (!(j->batches = calloc((size_t)j->n_batches, sizeof *j->batches)) ||
        cdx_queue_init((size_t)j->n_batches, &j->q_free) != CDX_OK)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
    for (int32_t i = 0; i < j->n_batches; i++) {
        batch *b = &j->batches[i];
        b->cap = j->rows * 4; /* room for items that need no tower run beside the rows */
        b->items = calloc((size_t)b->cap, sizeof *b->items);
        b->embed_idx = calloc((size_t)j->rows, sizeof *b->embed_idx);
        b->pixels = malloc((size_t)j->rows * j->ctx.tensor_floats * sizeof(float));
        b->vectors = malloc((size_t)j->rows * (size_t)j->ctx.dim * sizeof(float));
        if (!b->items || !b->embed_idx || !b->pixels || !b->vectors)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory for %d batches of %d rows",
                                  j->n_batches, j->rows);
        cdx_queue_push(j->q_free, b);
    }
    return CDX_OK;
}

static void free_batches(job *j)
{
    for (int32_t i = 0; i < j->n_batches && j->batches; i++) {
        batch *b = &j->batches[i];
        free(b->items);
        free(b->embed_idx);
        free(b->pixels);
        free(b->vectors);
    }
    free(j->batches);
    cdx_queue_free(j->q_free);
}

/* Retrying with no sources: every recorded failure that can be read again. */
static int retry_specs(job *j, char ***out, int32_t *n_out, cdx_errbuf *eb)
{
    failure_set all;
    int rc = failure_set_load(&all, j->ctx.store, NULL, eb);
    if (rc != CDX_OK)
        return rc;
    char **specs = calloc(all.n + 1, sizeof *specs);
    int32_t n = 0;
    if (!specs) {
        failure_set_free(&all);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
    }
    j->retry_only = all; /* tar members are filtered by this set */
    j->retry_filter = 1;
    for (size_t i = 0; i < all.cap && rc == CDX_OK; i++) {
        const char *uri = all.uris[i], *hash = uri ? strrchr(uri, '#') : NULL;
        struct stat st;
        char *spec = NULL;
        if (!uri)
            continue;
        if (hash) { /* "SHARD#member": the shard, once */
            spec = strndup(uri, (size_t)(hash - uri));
            if (spec && stat(spec, &st) == 0 && S_ISREG(st.st_mode) && cdx_source_is_tar_name(spec)) {
                int dup = 0;
                for (int32_t k = 0; k < n && !dup; k++)
                    dup = strcmp(specs[k], spec) == 0;
                if (!dup) {
                    specs[n++] = spec;
                    spec = NULL;
                }
                free(spec);
                continue;
            }
            free(spec);
        }
        if (stat(uri, &st) == 0) {
            if (!(specs[n] = strdup(uri)))
                rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
            else
                n++;
        } else {
            char shown[512];
            cdx_log_warn("ingest", "not retried: %s is gone (a manifest's row is retried by ingesting the manifest again)",
                         cdx_escape_name(uri, shown, sizeof shown));
        }
    }
    *out = specs;
    *n_out = n;
    return rc;
}

static void fill_summary(job *j, cdx_ingest_summary *s, int64_t wall)
{
    memset(s, 0, sizeof *s);
    s->seen = atomic_load(&j->seen);
    int est;
    s->total = current_total(j, &est);
    s->total_estimated = est;
    for (int i = 0; i < CDX_INGEST_OUTCOME_COUNT; i++)
        s->outcome[i] = atomic_load(&j->outcome[i]);
    s->failed_read = atomic_load(&j->failed_read);
    s->failed_decode = atomic_load(&j->failed_decode);
    s->failed_embed = atomic_load(&j->failed_embed);
    s->captions = atomic_load(&j->captions);
    s->batches = atomic_load(&j->batches_run);
    s->wall_ns = wall;
    s->images_per_s = wall > 0 ? (double)(s->outcome[0] + s->outcome[1]) / ((double)wall / 1e9) : 0;
    s->peak_rss = cdx_peak_rss_bytes();
    s->interrupted = atomic_load(&stop_requested) != 0;
    s->batch = j->rows;
    s->decode_workers = j->fixed_workers ? j->n_workers : atomic_load(&j->active);
    cdx_tower *vision = j->ctx.enc ? cdx_encoder_tower(j->ctx.enc, CDX_TOWER_VISION) : NULL;
    if (vision) {
        cdx_tower_report tr;
        cdx_tower_get_report(vision, &tr);
        s->ort_threads = tr.intra_threads;
    }
    for (int st = 0; st < ST_COUNT; st++) {
        cdx_ingest_stage *g = &s->stages[s->n_stages++];
        snprintf(g->name, sizeof g->name, "%s", stage_names[st]);
        g->threads = st == ST_DECODE ? j->n_workers : 1;
        g->busy_ns = atomic_load(&j->busy_ns[st]);
        g->items = atomic_load(&j->stage_items[st]);
    }
    for (int q = 0; q < Q_COUNT && j->q[q]; q++) {
        cdx_queue_stats qs;
        cdx_queue_get_stats(j->q[q], &qs);
        cdx_ingest_queue *g = &s->queues[s->n_queues++];
        snprintf(g->name, sizeof g->name, "%s", queue_names[q]);
        g->capacity = qs.capacity;
        g->max_depth = qs.max_depth;
        g->mean_depth = j->depth_samples ? j->depth_sum[q] / (double)j->depth_samples : 0;
        g->push_wait_ns = qs.push_wait_ns;
        g->pop_wait_ns = qs.pop_wait_ns;
    }
}

int cdx_ingest_run(cdx_store *s, cdx_encoder *e, const char *const *sources, int32_t n_sources,
                   const cdx_ingest_params *params, cdx_ingest_summary *out, cdx_errbuf *eb)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
    atomic_store(&stop_requested, 0);
    j->p = params ? *params : cdx_ingest_default_params();
    if (j->p.progress == CDX_INGEST_PROGRESS_AUTO)
        j->p.progress = isatty(j->p.progress_fd) ? CDX_INGEST_PROGRESS_TTY : CDX_INGEST_PROGRESS_NONE;
    atomic_store(&j->total, -1);
    pthread_mutex_init(&j->err_mu, NULL);
    pthread_mutex_init(&j->gate_mu, NULL);
    pthread_cond_init(&j->gate_cv, NULL);
    char **retry = NULL;
    int32_t n_retry = 0;
    pthread_t reader, batcher, embedder, writer, progress, prescan;
    int started = 0, prescan_started = 0;
    int rc = ingest_ctx_init(&j->ctx, s, e, eb);
    if (rc != CDX_OK)
        goto done;
    j->spec = cdx_encoder_spec(e);
    if (j->p.captions && !cdx_encoder_tower(e, CDX_TOWER_TEXT)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_INVAL, "ingest: --captions needs the encoder's text tower");
        goto done;
    }
    j->ctx.captions = j->p.captions;
    j->ctx.force = j->p.force;
    j->ctx.retry_failed = j->p.retry_failed;
    j->ctx.trust_mtime = j->p.trust_mtime;
    if ((rc = inflight_init(&j->inflight)) != CDX_OK)
        goto done;
    j->ctx.inflight = &j->inflight;
    if ((rc = failure_set_load(&j->failures, s, j->spec->id, eb)) != CDX_OK)
        goto done;
    j->ctx.known_failures = &j->failures;
    if (n_sources == 0) {
        if (!j->p.retry_failed) {
            rc = cdx_errbuf_set(eb, CDX_ERR_INVAL, "ingest: no sources (give a directory, manifest or shard, or "
                                                   "--retry-failed to retry the recorded failures)");
            goto done;
        }
        if ((rc = retry_specs(j, &retry, &n_retry, eb)) != CDX_OK)
            goto done;
        sources = (const char *const *)retry;
        n_sources = n_retry;
    }
    cdx_source_params sp = cdx_source_default_params();
    sp.extensions = j->p.extensions;
    sp.literal = retry != NULL;
    if ((rc = cdx_source_open(sources, n_sources, &sp, &j->src, eb)) != CDX_OK)
        goto done;
    j->specs = sources;
    j->n_specs = n_sources;

    /* Threads: decode workers from the budget, balanced later from costs. */
    cdx_threads_budget budget;
    cdx_threads_current(&budget);
    j->rows = j->p.batch > 0 ? j->p.batch : default_rows(j->spec);
    j->fixed_workers = j->p.decode_workers > 0 || (budget.overridden & CDX_THREADS_FIELD_WORKERS);
    int32_t start = j->p.decode_workers > 0 ? j->p.decode_workers : budget.workers;
    j->n_workers = j->fixed_workers ? start : CDX_MAX(start, budget.cores);
    atomic_store(&j->active, start);
    size_t read_cap = (size_t)(4 * j->n_workers + 16);
    size_t caps[Q_COUNT] = {read_cap, (size_t)(2 * j->rows), 1, 1};
    for (int q = 0; q < Q_COUNT; q++)
        if (cdx_queue_init(caps[q], &j->q[q]) != CDX_OK) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
            goto done;
        }
    if ((rc = alloc_batches(j, eb)) != CDX_OK)
        goto done;
    if (!(j->workers = calloc((size_t)j->n_workers, sizeof *j->workers))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
        goto done;
    }
    cdx_log_info("ingest", "batch %d rows, decode workers %d%s (of %d), ORT threads %d, queues read %zu ready %zu",
                 j->rows, start, j->fixed_workers ? " (fixed)" : " (balanced from measured costs)", j->n_workers,
                 budget.ort_intra, caps[Q_READ], caps[Q_READY]);

    j->t0 = cdx_clock_ns();
    if (!retry && pthread_create(&prescan, NULL, prescan_main, j) == 0)
        prescan_started = 1;
    pthread_create(&reader, NULL, reader_main, j);
    for (int32_t i = 0; i < j->n_workers; i++) {
        j->workers[i] = (worker){j, i, 0};
        pthread_create(&j->workers[i].thread, NULL, worker_main, &j->workers[i]);
    }
    pthread_create(&batcher, NULL, batcher_main, j);
    pthread_create(&embedder, NULL, embed_main, j);
    pthread_create(&writer, NULL, writer_main, j);
    pthread_create(&progress, NULL, progress_main, j);
    started = 1;

    pthread_join(reader, NULL);
    /* End of stream: parked workers wake to drain. */
    pthread_mutex_lock(&j->gate_mu);
    j->gate_open_all = 1;
    pthread_cond_broadcast(&j->gate_cv);
    pthread_mutex_unlock(&j->gate_mu);
    for (int32_t i = 0; i < j->n_workers; i++)
        pthread_join(j->workers[i].thread, NULL);
    cdx_queue_close(j->q[Q_READY]);
    pthread_join(batcher, NULL);
    pthread_join(embedder, NULL);
    pthread_join(writer, NULL);
    pthread_join(progress, NULL);
    if (prescan_started) {
        j->prescan_stop = 1;
        pthread_join(prescan, NULL);
    }
    report(j, 1);

    cdx_errbuf cerr = {0};
    if (atomic_load(&j->fatal)) {
        *eb = j->err;
        rc = j->err.code ? j->err.code : CDX_ERR_INTERNAL;
    } else if ((rc = cdx_store_checkpoint(s, &cerr)) != CDX_OK) {
        *eb = cerr;
    }
    if (atomic_load(&j->dropped))
        cdx_log_info("ingest", "stopped: %llu item(s) read but not started; run the same command again to go on",
                     (unsigned long long)atomic_load(&j->dropped));
done:
    if (out)
        fill_summary(j, out, started ? cdx_clock_ns() - j->t0 : 0);
    cdx_source_close(j->src);
    for (int q = 0; q < Q_COUNT; q++)
        cdx_queue_free(j->q[q]);
    free_batches(j);
    free(j->workers);
    if (j->ctx.inflight)
        inflight_destroy(&j->inflight);
    failure_set_free(&j->failures);
    failure_set_free(&j->retry_only);
    if (retry) {
        for (int32_t i = 0; i < n_retry; i++)
            free(retry[i]);
        free(retry);
    }
    if (j->ctx.enc)
        ingest_ctx_destroy(&j->ctx);
    pthread_mutex_destroy(&j->err_mu);
    pthread_mutex_destroy(&j->gate_mu);
    pthread_cond_destroy(&j->gate_cv);
    free(j);
    return rc;
}
