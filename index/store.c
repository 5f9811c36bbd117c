/* The data directory (index/store.h): the catalog, one in-memory vector index
 * per space, and their checkpoint files.
 *
 * Consistency rule: an in-memory index reflects the catalog up to two
 * sequence numbers, mem_seq (the last vector row added) and mem_tomb (the
 * last tombstone applied). A checkpoint writes the index under a new
 * generation name and then a sidecar naming it with those two numbers; on
 * open, the file is checked (sha256) before it is parsed, and the catalog
 * rows past the numbers are replayed. Writes go to SQLite first; only a
 * committed batch touches the in-memory index, so whatever happens to index
 * files, the catalog can rebuild them.
 *
 * Locks: wlock serializes writers (put, delete, failures, checkpoint,
 * rebuild); each space has a rwlock that searches take shared and index
 * mutations take exclusive. */
#include "index/store.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/sysinfo.h"
#include "common/threads.h"
#include "common/util.h"
#include "index/catalog.h"
#include "index/faiss_shim.h"
#include "index/flat.h"
#include "index/iofile.h"
#include "index/plan.h"
#include "index/sidecar.h"
#include "index/store_internal.h"
#include "index/vindex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const space_names[CDX_SPACE_COUNT] = {"image", "caption"};

typedef struct space_state {
    pthread_rwlock_t lock;
    cdx_vindex *vx;           /* NULL while the space is empty */
    int32_t auto_spec;        /* the spec was chosen by auto */
    int64_t planned_n;        /* catalog size it was chosen for */
    int64_t mem_seq, mem_tomb;
    int32_t has_file;
    int64_t saved_seq, saved_tomb, generation;
    int64_t unsaved;          /* changes since the file */
    int64_t oldest_unsaved_ns;
    int32_t stale;            /* an index update failed after a commit: rebuild before use */
    cdx_space_load load;      /* what open found */
} space_state;

struct cdx_store {
    char *dir;
    const cdx_contract *contract;
    cdx_stamp stamp;
    cdx_store_params params;
    cdx_index_spec want;
    cdx_catalog *cat;
    pthread_mutex_t wlock;
    space_state sp[CDX_SPACE_COUNT];
    int32_t threads;
    cdx_errbuf last_checkpoint_err;
};

cdx_store_params cdx_store_default_params(void)
{
    cdx_sysinfo si;
    cdx_sysinfo_read(&si);
    return (cdx_store_params){
        .index_spec = "auto",
        .memory_budget = si.mem_total_bytes ? si.mem_total_bytes / 2 : (uint64_t)4 << 30,
        .synchronous = CDX_SYNC_FULL,
        .checkpoint_rows = 50000,
        .checkpoint_seconds = 60.0,
        .read_only = 0,
        .create = 1,
        .threads = 0,
    };
}

/* threads = 0: the process budget's OpenMP share (common/threads.h); the
 * flat scan uses the same number of its own threads. */
static int32_t default_threads(void)
{
    cdx_threads_budget b;
    cdx_threads_current(&b);
    return b.omp > 0 ? b.omp : 1;
}

/* ---- building and loading indexes ---- */

/* The spec to build for n vectors: auto's choice or the requested one,
 * resolved; a kind that needs more vectors to train than there are is
 * exact search until a later re-plan. */
static cdx_index_spec plan_spec(const cdx_store *s, int64_t n, int32_t *auto_spec)
{
    char why[256];
    cdx_index_spec spec = s->want;
    *auto_spec = spec.kind == CDX_INDEX_AUTO;
    if (*auto_spec) {
        spec = cdx_plan_auto(n, s->stamp.dim, s->params.memory_budget, why, sizeof why);
        cdx_log_debug("index", "auto: %s", why);
    }
    cdx_index_spec_resolve(&spec, n, s->stamp.dim);
    if (n < cdx_plan_min_train(&spec))
        spec = cdx_index_spec_default(CDX_INDEX_FLAT);
    return spec;
}

typedef struct add_ctx {
    cdx_vindex *vx;
    int32_t dim, threads;
    int64_t n, cap;
    float *x;
    int64_t *ids;
    cdx_errbuf *eb;
} add_ctx;

static int add_flush(add_ctx *a)
{
    int rc = a->n ? cdx_vindex_add(a->vx, a->n, a->x, a->ids, a->threads, a->eb) : CDX_OK;
    a->n = 0;
    return rc;
}

static int add_row(void *ctx, int64_t seq, int64_t item, const float *vec)
{
    (void)seq;
    add_ctx *a = ctx;
    memcpy(a->x + a->n * a->dim, vec, sizeof(float) * (size_t)a->dim);
    a->ids[a->n++] = item;
    return a->n == a->cap ? add_flush(a) : 0;
}

/* Adds the catalog's vector rows of space with seq in (after, upto] to vx. */
static int add_rows(cdx_store *s, int32_t space, cdx_vindex *vx, int64_t after, int64_t upto, cdx_errbuf *eb)
{
    add_ctx a = {vx, s->stamp.dim, s->threads, 0, 4096, NULL, NULL, eb};
    a.x = malloc(sizeof(float) * (size_t)a.cap * (size_t)a.dim);
    a.ids = malloc(sizeof(int64_t) * (size_t)a.cap);
    int rc = a.x && a.ids ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_NOMEM, "index: out of memory");
    if (rc == CDX_OK)
        rc = cdx_catalog_scan_vectors(s->cat, s->stamp.contract_id, space, s->stamp.dim, after, upto, add_row, &a, eb);
    if (rc == CDX_OK)
        rc = add_flush(&a);
    free(a.x);
    free(a.ids);
    return rc;
}

/* Exact top-10 of each query over the whole space, streamed from the catalog. */
typedef struct truth_ctx {
    const float *queries;
    int32_t nq, dim;
    float *buf;
    int64_t *ids, n, cap;
    int64_t *best;     /* nq * 10 */
    float *best_sc;
    int64_t *tmp_ids;
    float *tmp_sc;
} truth_ctx;

static int truth_flush(truth_ctx *t)
{
    if (!t->n)
        return 0;
    int rc = cdx_flat_scan(t->buf, t->ids, t->n, t->dim, t->queries, t->nq, 10, 1, t->tmp_ids, t->tmp_sc);
    if (rc != CDX_OK)
        return rc;
    for (int32_t q = 0; q < t->nq; q++) { /* merge two sorted top-10 lists */
        int64_t mi[10];
        float ms[10];
        int a = 0, b = 0;
        for (int o = 0; o < 10; o++) {
            float sa = t->best_sc[q * 10 + a], sb = t->tmp_sc[q * 10 + b];
            if (a < 10 && (b >= 10 || sa >= sb)) {
                mi[o] = t->best[q * 10 + a];
                ms[o] = sa;
                a++;
            } else {
                mi[o] = t->tmp_ids[q * 10 + b];
                ms[o] = sb;
                b++;
            }
        }
        memcpy(t->best + q * 10, mi, sizeof mi);
        memcpy(t->best_sc + q * 10, ms, sizeof ms);
    }
    t->n = 0;
    return 0;
}

static int truth_row(void *ctx, int64_t seq, int64_t item, const float *vec)
{
    (void)seq;
    truth_ctx *t = ctx;
    memcpy(t->buf + t->n * t->dim, vec, sizeof(float) * (size_t)t->dim);
    t->ids[t->n++] = item;
    return t->n == t->cap ? truth_flush(t) : 0;
}

int cdx_store_ground_truth(cdx_store *s, int32_t space, const float *queries, int32_t nq, int64_t *truth,
                           cdx_errbuf *eb)
{
    truth_ctx t = {queries, nq, s->stamp.dim, NULL, NULL, 0, 16384, truth, NULL, NULL, NULL};
    t.buf = malloc(sizeof(float) * (size_t)t.cap * (size_t)t.dim);
    t.ids = malloc(sizeof(int64_t) * (size_t)t.cap);
    t.best_sc = malloc(sizeof(float) * (size_t)nq * 10);
    t.tmp_ids = malloc(sizeof(int64_t) * (size_t)nq * 10);
    t.tmp_sc = malloc(sizeof(float) * (size_t)nq * 10);
    int rc = CDX_OK;
    if (!t.buf || !t.ids || !t.best_sc || !t.tmp_ids || !t.tmp_sc) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "tune: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < (int64_t)nq * 10; i++) {
        truth[i] = -1;
        t.best_sc[i] = -INFINITY;
    }
    rc = cdx_catalog_scan_vectors(s->cat, s->stamp.contract_id, space, s->stamp.dim, 0, INT64_MAX, truth_row, &t, eb);
    if (rc == CDX_OK)
        rc = truth_flush(&t);
    if (rc != CDX_OK && !eb->code)
        rc = cdx_errbuf_set(eb, rc, "tune: exact search failed");
done:
    free(t.buf);
    free(t.ids);
    free(t.best_sc);
    free(t.tmp_ids);
    free(t.tmp_sc);
    return rc;
}

typedef struct fetch_ctx {
    cdx_store *s;
    int32_t space;
} fetch_ctx;

/* Exact vectors from the catalog, for specs that re-rank. */
static int fetch_exact(void *ctx, const int64_t *ids, int32_t n, float *out, uint8_t *found, cdx_errbuf *eb)
{
    fetch_ctx *f = ctx;
    return cdx_catalog_get_vectors(f->s->cat, f->s->stamp.contract_id, f->space, f->s->stamp.dim, ids, n, out, found,
                                   eb);
}

/* Tunes an approximate index's search parameter on a sample of the space's
 * own vectors (recall@10 >= 0.95 at the smallest effort). */
static int tune_space(cdx_store *s, int32_t space, cdx_vindex *vx, int32_t nq, cdx_tune_result *res,
                      cdx_vindex *rival, cdx_tune_result *rival_res, cdx_errbuf *eb)
{
    int32_t dim = s->stamp.dim;
    float *q = malloc(sizeof(float) * (size_t)nq * (size_t)dim);
    int64_t *truth = malloc(sizeof(int64_t) * (size_t)nq * 10), got = 0;
    int rc = q && truth ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_NOMEM, "tune: out of memory");
    if (rc == CDX_OK)
        rc = cdx_catalog_sample_vectors(s->cat, s->stamp.contract_id, space, dim, nq, q, &got, eb);
    if (rc == CDX_OK)
        rc = cdx_store_ground_truth(s, space, q, (int32_t)got, truth, eb);
    fetch_ctx fc = {s, space};
    if (rc == CDX_OK)
        rc = cdx_plan_tune(vx, q, (int32_t)got, truth, 0.95, 1, fetch_exact, &fc, res, eb);
    if (rc == CDX_OK && rival) /* measured on the same queries */
        rc = cdx_plan_tune(rival, q, (int32_t)got, truth, 0.95, 1, fetch_exact, &fc, rival_res, eb);
    free(q);
    free(truth);
    return rc;
}

/* Builds the index of a space from the catalog, as it is now (writers are
 * held off by the caller). */
static int build_space(cdx_store *s, int32_t space, cdx_vindex **out, int32_t *auto_spec, int64_t *planned_n,
                       int64_t *seq, int64_t *tomb, cdx_errbuf *eb)
{
    *out = NULL;
    cdx_catalog_counts cnt;
    int rc = cdx_catalog_counts_get(s->cat, s->stamp.contract_id, &cnt, eb);
    if (rc != CDX_OK)
        return rc;
    int64_t n = cnt.vectors[space];
    *seq = cnt.vec_hw;
    *tomb = cnt.tomb_hw;
    *planned_n = n;
    if (n == 0) /* an empty space has no index until its first vector */
        return CDX_OK;
    cdx_index_spec spec = plan_spec(s, n, auto_spec);
    char text[CDX_INDEX_SPEC_MAX];
    cdx_index_spec_format(&spec, text, sizeof text);
    int64_t t0 = cdx_clock_ns();
    cdx_vindex *vx = NULL;
    float *sample = NULL;
    if ((rc = cdx_vindex_create(&spec, s->stamp.dim, &vx, eb)) != CDX_OK)
        goto done;
    if (!cdx_vindex_is_trained(vx)) {
        int64_t want = cdx_plan_train_size(&spec, n), got = 0;
        sample = malloc(sizeof(float) * (size_t)want * (size_t)s->stamp.dim);
        if (!sample) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "index: out of memory for %lld training vectors", (long long)want);
            goto done;
        }
        if ((rc = cdx_catalog_sample_vectors(s->cat, s->stamp.contract_id, space, s->stamp.dim, want, sample, &got,
                                             eb)) != CDX_OK ||
            (rc = cdx_vindex_train(vx, got, sample, s->threads, eb)) != CDX_OK)
            goto done;
    }
    if ((rc = cdx_vindex_reserve(vx, n, eb)) != CDX_OK || (rc = add_rows(s, space, vx, 0, *seq, eb)) != CDX_OK)
        goto done;
    if (cdx_vindex_count(vx) != n) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "index %s: built %lld entries from %lld vector rows",
                            space_names[space], (long long)cdx_vindex_count(vx), (long long)n);
        goto done;
    }
    if (*auto_spec && cdx_index_spec_effort(&spec) > 0 && n > 0) {
        /* Tuned, and measured against exact search on the same queries when
         * that fits the budget too: on data without structure (random
         * vectors, say) a graph needs so large an efSearch that a scan is
         * faster, and auto picks the faster of the two that reach the target. */
        cdx_index_spec fs = cdx_index_spec_default(CDX_INDEX_FLAT);
        cdx_vindex *flat = NULL;
        cdx_tune_result tr, fr;
        if (cdx_plan_memory(&fs, n, s->stamp.dim) <= s->params.memory_budget &&
            ((rc = cdx_vindex_create(&fs, s->stamp.dim, &flat, eb)) != CDX_OK ||
             (rc = cdx_vindex_reserve(flat, n, eb)) != CDX_OK ||
             (rc = add_rows(s, space, flat, 0, *seq, eb)) != CDX_OK)) {
            cdx_vindex_free(flat);
            goto done;
        }
        rc = tune_space(s, space, vx, (int32_t)CDX_MIN(n, 500), &tr, flat, &fr, eb);
        if (rc != CDX_OK) {
            cdx_vindex_free(flat);
            goto done;
        }
        cdx_index_spec_format(cdx_vindex_spec(vx), text, sizeof text);
        double approx_ms = tr.chosen >= 0 ? tr.points[tr.chosen].p50_ms : 1e300;
        if (flat && cdx_plan_prefer_exact(&tr, &fr)) {
            cdx_log_info("index", "auto: %s reaches recall@10 0.95 at p50 %.3f ms, exact search takes %.3f ms: exact",
                         text, approx_ms < 1e300 ? approx_ms : -1.0, fr.points[0].p50_ms);
            cdx_vindex_free(vx);
            vx = flat;
            cdx_index_spec_format(cdx_vindex_spec(vx), text, sizeof text);
        } else {
            cdx_vindex_free(flat);
            if (tr.chosen < 0)
                cdx_log_warn("index", "%s: no search effort reached recall@10 0.95; using the best found", text);
        }
    }
    cdx_log_info("index", "built %s index %s: %lld vectors in %.1f s", space_names[space], text, (long long)n,
                 (double)(cdx_clock_ns() - t0) / 1e9);
done:
    free(sample);
    if (rc != CDX_OK) {
        cdx_vindex_free(vx);
        return rc;
    }
    *out = vx;
    return CDX_OK;
}

typedef struct remove_ctx {
    cdx_vindex *vx;
    cdx_errbuf *eb;
} remove_ctx;

static int remove_row(void *ctx, int64_t seq, int64_t item)
{
    (void)seq;
    remove_ctx *r = ctx;
    return cdx_vindex_remove(r->vx, 1, &item, NULL, r->eb);
}

/* Brings vx from (seq, tomb) to the catalog's current state. */
static int replay(cdx_store *s, int32_t space, cdx_vindex *vx, int64_t seq, int64_t tomb, int64_t *new_seq,
                  int64_t *new_tomb, int64_t *replayed, cdx_errbuf *eb)
{
    cdx_catalog_counts cnt;
    int rc = cdx_catalog_counts_get(s->cat, s->stamp.contract_id, &cnt, eb);
    if (rc != CDX_OK)
        return rc;
    if (cnt.vec_hw < seq || cnt.tomb_hw < tomb)
        return cdx_errbuf_set(eb, CDX_ERR_CORRUPT,
                              "index %s is ahead of the catalog (watermark %lld, the catalog's last row %lld)",
                              space_names[space], (long long)seq, (long long)cnt.vec_hw);
    remove_ctx r = {vx, eb};
    if ((rc = cdx_catalog_scan_tombstones(s->cat, space, tomb, cnt.tomb_hw, seq, remove_row, &r, eb)) != CDX_OK)
        return rc;
    int64_t before = cdx_vindex_count(vx);
    if ((rc = add_rows(s, space, vx, seq, cnt.vec_hw, eb)) != CDX_OK)
        return rc;
    *replayed = cdx_vindex_count(vx) - before;
    if (cdx_vindex_count(vx) != cnt.vectors[space])
        return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "index %s holds %lld entries after replay, the catalog %lld rows",
                              space_names[space], (long long)cdx_vindex_count(vx), (long long)cnt.vectors[space]);
    *new_seq = cnt.vec_hw;
    *new_tomb = cnt.tomb_hw;
    return CDX_OK;
}

static void sidecar_path(const cdx_store *s, int32_t space, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/index-%s.json", s->dir, space_names[space]);
}

static int read_text(const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno;
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    int err = ferror(f) ? EIO : (!buf ? ENOMEM : 0);
    fclose(f);
    if (err) {
        free(buf);
        return err;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Loads the checkpointed index of a space: sidecar, stamp, sha256, then parse
 * and replay. Any failure is returned with the reason; the caller rebuilds. */
static int load_file(cdx_store *s, int32_t space, cdx_sidecar *sc, cdx_vindex **out, cdx_errbuf *eb)
{
    *out = NULL;
    char path[4096], *text = NULL;
    size_t len = 0;
    sidecar_path(s, space, path, sizeof path);
    int err = read_text(path, &text, &len);
    if (err == ENOENT)
        return cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "%s is missing", path);
    if (err)
        return cdx_errbuf_set(eb, CDX_ERR_IO, "read %s: %s", path, strerror(err));
    int rc = cdx_sidecar_parse(text, len, sc, eb);
    free(text);
    if (rc != CDX_OK)
        return rc;
    if (strcmp(sc->space, space_names[space]) != 0 || strcmp(sc->contract_id, s->stamp.contract_id) != 0 ||
        strcmp(sc->space_hash, s->stamp.space_hash) != 0 || sc->dim != s->stamp.dim)
        return cdx_errbuf_set(eb, CDX_ERR_MISMATCH,
                              "%s was built for contract %s (space %.12s, %d dims), the catalog is %s (%.12s, %d dims)",
                              path, sc->contract_id, sc->space_hash, sc->dim, s->stamp.contract_id,
                              s->stamp.space_hash, s->stamp.dim);
    char data[4096];
    snprintf(data, sizeof data, "%s/%s", s->dir, sc->file);
    int fd = open(data, O_RDONLY | O_CLOEXEC);
    if (fd < 0) /* the sidecar promises this file: its absence is damage, not "no checkpoint yet" */
        return cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_CORRUPT : CDX_ERR_IO, "%s names %s: %s", path, data,
                              strerror(errno));
    uint8_t digest[32];
    uint64_t bytes = 0;
    char hex[65];
    err = cdx_io_sha256_fd(fd, digest, &bytes);
    cdx_hex_encode(digest, 32, hex);
    if (err) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "read %s: %s", data, strerror(err));
    } else if ((int64_t)bytes != sc->bytes || strcmp(hex, sc->sha256) != 0) {
        /* FAISS never sees a file we did not write whole. */
        rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "%s: %llu bytes with sha256 %.16s…, the sidecar says %lld bytes, %.16s…",
                            data, (unsigned long long)bytes, hex, (long long)sc->bytes, sc->sha256);
    } else {
        cdx_io_reader rd;
        if (cdx_io_reader_init(&rd, fd) != 0) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "read %s: out of memory", data);
        } else {
            rc = cdx_vindex_read(cdx_io_reader_get, &rd, s->stamp.dim, out, eb);
            cdx_io_reader_free(&rd);
        }
        if (rc == CDX_OK && cdx_vindex_count(*out) != sc->count) {
            rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "%s holds %lld entries, the sidecar says %lld", data,
                                (long long)cdx_vindex_count(*out), (long long)sc->count);
        }
        if (rc != CDX_OK) {
            cdx_vindex_free(*out);
            *out = NULL;
        }
    }
    close(fd);
    return rc;
}

static void set_space(space_state *st, cdx_vindex *vx, int32_t auto_spec, int64_t planned_n, int64_t seq,
                      int64_t tomb)
{
    pthread_rwlock_wrlock(&st->lock);
    cdx_vindex *old = st->vx;
    st->vx = vx;
    st->auto_spec = auto_spec;
    st->planned_n = planned_n;
    st->mem_seq = seq;
    st->mem_tomb = tomb;
    st->stale = 0;
    pthread_rwlock_unlock(&st->lock);
    cdx_vindex_free(old);
}

static void remove_data_file(const cdx_store *s, int32_t space, int64_t generation);

/* Rebuilds a space from the catalog and marks it for checkpointing. */
static int rebuild_space(cdx_store *s, int32_t space, cdx_errbuf *eb)
{
    cdx_vindex *vx;
    int32_t auto_spec = 0;
    int64_t planned = 0, seq = 0, tomb = 0;
    int rc = build_space(s, space, &vx, &auto_spec, &planned, &seq, &tomb, eb);
    if (rc != CDX_OK)
        return rc;
    space_state *st = &s->sp[space];
    set_space(st, vx, auto_spec, planned, seq, tomb);
    st->unsaved = vx ? CDX_MAX(cdx_vindex_count(vx), 1) : 0;
    st->oldest_unsaved_ns = cdx_clock_ns();
    if (!vx && st->has_file && !s->params.read_only) {
        /* nothing left to index: the old file goes, so it is never replayed */
        char path[4096];
        sidecar_path(s, space, path, sizeof path);
        unlink(path);
        remove_data_file(s, space, st->generation);
        st->has_file = 0;
    }
    return CDX_OK;
}

static int load_space(cdx_store *s, int32_t space, cdx_errbuf *eb)
{
    space_state *st = &s->sp[space];
    cdx_sidecar sc;
    cdx_vindex *vx = NULL;
    cdx_errbuf why = {0};
    int rc = load_file(s, space, &sc, &vx, &why);
    if (rc == CDX_OK) {
        cdx_index_spec file_spec = *cdx_vindex_spec(vx);
        int want_other = s->want.kind != CDX_INDEX_AUTO && s->want.kind != file_spec.kind;
        if (want_other) {
            char a[CDX_INDEX_SPEC_MAX];
            cdx_index_spec_format(&s->want, a, sizeof a);
            rc = cdx_errbuf_set(&why, CDX_ERR_MISMATCH, "the index is %s, %s was asked for", sc.spec, a);
        }
    }
    int64_t seq = 0, tomb = 0, replayed = 0;
    if (rc == CDX_OK)
        rc = replay(s, space, vx, sc.watermark, sc.tomb_watermark, &seq, &tomb, &replayed, &why);
    st->load.status = rc;
    st->load.replayed = replayed;
    snprintf(st->load.note, sizeof st->load.note, "%s", rc == CDX_OK ? "" : cdx_errbuf_msg(&why));
    if (rc == CDX_OK) {
        set_space(st, vx, sc.auto_spec, sc.planned_n, seq, tomb);
        st->has_file = 1;
        st->generation = sc.generation;
        st->saved_seq = sc.watermark;
        st->saved_tomb = sc.tomb_watermark;
        st->unsaved = replayed;
        st->oldest_unsaved_ns = cdx_clock_ns();
        if (replayed)
            cdx_log_info("index", "%s: replayed %lld vector rows past the checkpoint", space_names[space],
                         (long long)replayed);
        return CDX_OK;
    }
    cdx_vindex_free(vx);
    cdx_catalog_counts cnt;
    if (cdx_catalog_counts_get(s->cat, s->stamp.contract_id, &cnt, eb) != CDX_OK)
        return eb->code;
    if (rc == CDX_ERR_NOTFOUND && cnt.vectors[space] == 0) { /* empty space, never checkpointed */
        st->load.status = CDX_OK;
        st->load.note[0] = '\0';
        st->mem_seq = cnt.vec_hw;
        st->mem_tomb = cnt.tomb_hw;
        return CDX_OK;
    }
    cdx_log(rc == CDX_ERR_NOTFOUND ? CDX_LOG_LEVEL_INFO : CDX_LOG_LEVEL_WARN, "index",
            "%s index not used (%s): rebuilding from the catalog", space_names[space], cdx_errbuf_msg(&why));
    if (rc == CDX_OK || rc == CDX_ERR_NOTFOUND || rc == CDX_ERR_CORRUPT || rc == CDX_ERR_MISMATCH ||
        rc == CDX_ERR_INDEX || rc == CDX_ERR_IO || rc == CDX_ERR_PARSE) {
        /* keep the old generation number so the new file gets a fresh name */
        if (sc.generation > 0 && rc != CDX_ERR_NOTFOUND)
            st->generation = sc.generation;
        return rebuild_space(s, space, eb);
    }
    return cdx_errbuf_set(eb, rc, "%s", cdx_errbuf_msg(&why));
}

/* ---- checkpoints ---- */

typedef struct body_ctx {
    const cdx_vindex *vx;
} body_ctx;

static int write_index_body(void *ctx, cdx_write_fn w, void *wctx, cdx_errbuf *eb)
{
    return cdx_vindex_write(((body_ctx *)ctx)->vx, w, wctx, eb);
}

typedef struct text_ctx {
    const char *text;
} text_ctx;

static int write_text_body(void *ctx, cdx_write_fn w, void *wctx, cdx_errbuf *eb)
{
    const char *t = ((text_ctx *)ctx)->text;
    size_t n = strlen(t);
    return w(wctx, t, n) == n ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_IO, "write sidecar failed");
}

static void remove_data_file(const cdx_store *s, int32_t space, int64_t generation)
{
    char name[96], path[4096];
    cdx_sidecar_file_name(space_names[space], generation, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    unlink(path);
}

static int checkpoint_space(cdx_store *s, int32_t space, cdx_errbuf *eb)
{
    space_state *st = &s->sp[space];
    if (s->params.read_only || !st->vx || (st->unsaved == 0 && st->has_file))
        return CDX_OK;
    int64_t t0 = cdx_clock_ns();
    cdx_sidecar sc;
    memset(&sc, 0, sizeof sc);
    sc.format = CDX_SIDECAR_FORMAT;
    snprintf(sc.space, sizeof sc.space, "%s", space_names[space]);
    sc.generation = st->generation + 1;
    cdx_sidecar_file_name(sc.space, sc.generation, sc.file, sizeof sc.file);
    cdx_index_spec_format(cdx_vindex_spec(st->vx), sc.spec, sizeof sc.spec);
    sc.auto_spec = st->auto_spec;
    snprintf(sc.contract_id, sizeof sc.contract_id, "%s", s->stamp.contract_id);
    snprintf(sc.space_hash, sizeof sc.space_hash, "%s", s->stamp.space_hash);
    sc.dim = s->stamp.dim;
    sc.count = cdx_vindex_count(st->vx);
    sc.watermark = st->mem_seq;
    sc.tomb_watermark = st->mem_tomb;
    sc.planned_n = st->planned_n;
    sc.written_ms = cdx_clock_wall_ms();
    uint8_t digest[32];
    uint64_t bytes = 0;
    body_ctx body = {st->vx}; /* writers are held off by wlock; searches may go on */
    int rc = cdx_io_write_atomic(s->dir, sc.file, write_index_body, &body, digest, &bytes, eb);
    if (rc != CDX_OK)
        return rc;
    cdx_hex_encode(digest, 32, sc.sha256);
    sc.bytes = (int64_t)bytes;
    char *text = cdx_sidecar_format(&sc);
    if (!text) {
        remove_data_file(s, space, sc.generation);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "checkpoint: out of memory");
    }
    char name[32];
    snprintf(name, sizeof name, "index-%s.json", space_names[space]);
    text_ctx tc = {text};
    rc = cdx_io_write_atomic(s->dir, name, write_text_body, &tc, NULL, NULL, eb);
    free(text);
    if (rc != CDX_OK) {
        /* The old sidecar still names the old file, which is untouched. */
        remove_data_file(s, space, sc.generation);
        return rc;
    }
    if (st->has_file && st->generation != sc.generation)
        remove_data_file(s, space, st->generation);
    st->has_file = 1;
    st->generation = sc.generation;
    st->saved_seq = sc.watermark;
    st->saved_tomb = sc.tomb_watermark;
    st->unsaved = 0;
    cdx_log_debug("index", "checkpoint %s: %s, %lld entries, %.1f MiB in %.0f ms", space_names[space], sc.file,
                  (long long)sc.count, (double)bytes / 1048576.0, (double)(cdx_clock_ns() - t0) / 1e6);
    return CDX_OK;
}

/* Tombstones every checkpointed file has seen are no longer needed. */
static void prune_tombstones(cdx_store *s)
{
    int64_t upto = INT64_MAX;
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++)
        if (s->sp[sp].has_file)
            upto = CDX_MIN(upto, s->sp[sp].saved_tomb);
        else if (s->sp[sp].vx) /* a space with no file yet rebuilds fully when reopened */
            upto = CDX_MIN(upto, s->sp[sp].mem_tomb);
    if (upto == INT64_MAX || upto <= 0)
        return;
    cdx_errbuf eb = {0};
    if (cdx_catalog_prune_tombstones(s->cat, upto, &eb) != CDX_OK)
        cdx_log_warn("index", "pruning tombstones: %s", cdx_errbuf_msg(&eb));
}

/* An auto index re-planned for the catalog it has grown into. */
static int maybe_replan(cdx_store *s, int32_t space, cdx_errbuf *eb)
{
    space_state *st = &s->sp[space];
    if (!st->vx)
        return CDX_OK;
    int64_t n = cdx_vindex_count(st->vx);
    int32_t auto_spec;
    cdx_index_spec want = plan_spec(s, n, &auto_spec);
    const cdx_index_spec *have = cdx_vindex_spec(st->vx);
    int grown = have->kind == CDX_INDEX_IVF || have->kind == CDX_INDEX_IVFPQ ? n >= 4 * CDX_MAX(st->planned_n, 1) : 0;
    int bloated = cdx_vindex_dead(st->vx) > n / 4 + 1000;
    if (want.kind == have->kind && !grown && !bloated)
        return CDX_OK;
    char a[CDX_INDEX_SPEC_MAX], b[CDX_INDEX_SPEC_MAX];
    cdx_index_spec_format(have, a, sizeof a);
    cdx_index_spec_format(&want, b, sizeof b);
    cdx_log_info("index", "%s: %lld vectors: rebuilding %s as %s%s", space_names[space], (long long)n, a, b,
                 bloated ? " (too many removed entries)" : "");
    return rebuild_space(s, space, eb);
}

static int checkpoint_locked(cdx_store *s, int force, cdx_errbuf *eb)
{
    int rc = CDX_OK;
    int64_t now = cdx_clock_ns();
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++) {
        space_state *st = &s->sp[sp];
        int due = st->unsaved >= s->params.checkpoint_rows ||
                  (st->unsaved > 0 && (double)(now - st->oldest_unsaved_ns) / 1e9 >= s->params.checkpoint_seconds);
        if (!force && !due)
            continue;
        int r = st->stale ? rebuild_space(s, sp, eb) : maybe_replan(s, sp, eb);
        if (r == CDX_OK)
            r = checkpoint_space(s, sp, eb);
        if (r != CDX_OK && rc == CDX_OK)
            rc = r;
    }
    if (rc == CDX_OK)
        prune_tombstones(s);
    return rc;
}

int cdx_store_checkpoint(cdx_store *s, cdx_errbuf *eb)
{
    if (s->params.read_only)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "checkpoint %s: the store is open read-only", s->dir);
    pthread_mutex_lock(&s->wlock);
    int rc = checkpoint_locked(s, 1, eb);
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

/* ---- open / close ---- */

static int make_dir(const char *dir, int create, cdx_errbuf *eb)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_INVAL, "data directory %s is not a directory", dir);
    if (!create)
        return cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "data directory %s does not exist", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cdx_errbuf_set(eb, CDX_ERR_IO, "create data directory %s: %s", dir, strerror(errno));
    return CDX_OK;
}

/* Removes temp files and index generations no sidecar names (left by a crash). */
static void sweep_files(cdx_store *s)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        int tmp = len > 4 && strcmp(n + len - 4, ".tmp") == 0 && strncmp(n, "index-", 6) == 0;
        int stray = 0;
        for (int32_t sp = 0; sp < CDX_SPACE_COUNT && !tmp; sp++) {
            char prefix[32], mine[96];
            snprintf(prefix, sizeof prefix, "index-%s.", space_names[sp]);
            cdx_sidecar_file_name(space_names[sp], s->sp[sp].generation, mine, sizeof mine);
            if (strncmp(n, prefix, strlen(prefix)) == 0 && len > 6 && strcmp(n + len - 6, ".faiss") == 0 &&
                (!s->sp[sp].has_file || strcmp(n, mine) != 0))
                stray = 1;
        }
        if (tmp || stray) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", s->dir, n);
            unlink(path);
        }
    }
    closedir(d);
}

static int check_stamp(cdx_store *s, cdx_errbuf *eb)
{
    cdx_stamp have;
    int rc = cdx_catalog_get_stamp(s->cat, &have, eb);
    if (rc != CDX_OK)
        return rc;
    if (!s->contract) {
        s->stamp = have;
        return CDX_OK;
    }
    const cdx_contract_spec *cs = cdx_contract_get(s->contract);
    cdx_stamp mine = {1, "", "", cs->dim};
    snprintf(mine.contract_id, sizeof mine.contract_id, "%s", cs->id);
    snprintf(mine.space_hash, sizeof mine.space_hash, "%s", cs->space_hash);
    if (have.found && (strcmp(have.contract_id, mine.contract_id) != 0 ||
                       strcmp(have.space_hash, mine.space_hash) != 0 || have.dim != mine.dim))
        return cdx_errbuf_set(eb, CDX_ERR_MISMATCH,
                              "data directory %s holds vectors of contract %s (space hash %.12s…, %d dims), not %s "
                              "(space hash %.12s…, %d dims): open it with the contract it was made with, or use "
                              "another data directory",
                              s->dir, have.contract_id, have.space_hash, have.dim, mine.contract_id, mine.space_hash,
                              mine.dim);
    if (!have.found && !s->params.read_only && (rc = cdx_catalog_set_stamp(s->cat, &mine, eb)) != CDX_OK)
        return rc;
    s->stamp = mine;
    return CDX_OK;
}

int cdx_store_open(const char *dir, const cdx_contract *contract, const cdx_store_params *params, cdx_store **out,
                   cdx_errbuf *eb)
{
    *out = NULL;
    cdx_store_params p = params ? *params : cdx_store_default_params();
    cdx_index_spec want;
    int rc = cdx_index_spec_parse(p.index_spec ? p.index_spec : "auto", &want, eb);
    if (rc != CDX_OK)
        return rc;
    if ((rc = make_dir(dir, p.create && !p.read_only, eb)) != CDX_OK)
        return rc;
    cdx_store *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "open %s: out of memory", dir);
    }
    s->contract = contract;
    s->params = p;
    s->params.index_spec = NULL; /* borrowed string: keep the parsed form only */
    s->want = want;
    s->threads = p.threads > 0 ? p.threads : default_threads();
    pthread_mutex_init(&s->wlock, NULL);
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++)
        pthread_rwlock_init(&s->sp[sp].lock, NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s/catalog.sqlite", dir);
    if (p.read_only && access(path, F_OK) != 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "%s has no catalog (catalog.sqlite): not a clipdex data directory",
                            dir);
        goto fail;
    }
    if ((rc = cdx_catalog_open(path, p.read_only, p.create, p.synchronous, &s->cat, eb)) != CDX_OK ||
        (rc = check_stamp(s, eb)) != CDX_OK)
        goto fail;
    if (!contract && !p.read_only && !s->stamp.found) {
        rc = cdx_errbuf_set(eb, CDX_ERR_INVAL,
                            "open %s for writing: the directory has no contract stamp yet, so a contract is required",
                            dir);
        goto fail;
    }
    if (s->stamp.dim > 0)
        for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++)
            if ((rc = load_space(s, sp, eb)) != CDX_OK)
                goto fail;
    if (!p.read_only)
        sweep_files(s);
    *out = s;
    return CDX_OK;
fail:
    s->params.read_only = 1; /* nothing to checkpoint on the way out */
    cdx_store_close(s);
    return rc;
}

void cdx_store_close(cdx_store *s)
{
    if (!s)
        return;
    if (!s->params.read_only && s->cat) {
        cdx_errbuf eb = {0};
        pthread_mutex_lock(&s->wlock);
        if (checkpoint_locked(s, 1, &eb) != CDX_OK)
            cdx_log_warn("index", "checkpoint on close of %s failed (the catalog has everything; the index will be "
                                  "replayed or rebuilt on open): %s",
                         s->dir, cdx_errbuf_msg(&eb));
        pthread_mutex_unlock(&s->wlock);
    }
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++) {
        cdx_vindex_free(s->sp[sp].vx);
        pthread_rwlock_destroy(&s->sp[sp].lock);
    }
    cdx_catalog_close(s->cat);
    pthread_mutex_destroy(&s->wlock);
    free(s->dir);
    free(s);
}

/* ---- writes ---- */

static int need_writable(const cdx_store *s, const char *what, cdx_errbuf *eb)
{
    return s->params.read_only ? cdx_errbuf_set(eb, CDX_ERR_INVAL, "%s %s: the store is open read-only", what, s->dir)
                               : CDX_OK;
}

/* Applies a committed batch to the in-memory index of one space. */
static int apply_space(cdx_store *s, int32_t space, const cdx_item *items, const float *vecs,
                       const cdx_put_result *res, int32_t n, int64_t max_tomb, cdx_errbuf *eb)
{
    space_state *st = &s->sp[space];
    int32_t dim = s->stamp.dim;
    int64_t *rm = malloc(sizeof(int64_t) * (size_t)CDX_MAX(n, 1));
    int64_t *add_ids = malloc(sizeof(int64_t) * (size_t)CDX_MAX(n, 1));
    float *add_x = malloc(sizeof(float) * (size_t)CDX_MAX(n, 1) * (size_t)dim);
    int rc = CDX_OK;
    if (!rm || !add_ids || !add_x) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "index: out of memory");
        goto done;
    }
    int64_t nrm = 0, nadd = 0, max_seq = st->mem_seq;
    for (int32_t i = 0; i < n; i++) {
        if (res[i].had_vectors)
            rm[nrm++] = items[i].id;
        if (res[i].seq[space]) {
            add_ids[nadd] = items[i].id;
            memcpy(add_x + nadd * dim, vecs + (size_t)i * dim, sizeof(float) * (size_t)dim);
            nadd++;
            max_seq = CDX_MAX(max_seq, res[i].seq[space]);
        }
    }
    if (!st->vx && nadd == 0) {
        st->mem_tomb = max_tomb;
        goto done;
    }
    if (!st->vx) {
        /* A first index over a handful of vectors: a kind that trains waits
         * for the re-plan at a checkpoint, when there is data to train on. */
        int32_t auto_spec;
        cdx_index_spec spec = plan_spec(s, nadd, &auto_spec);
        if (cdx_plan_min_train(&spec) > 0)
            spec = cdx_index_spec_default(CDX_INDEX_FLAT);
        cdx_vindex *vx;
        if ((rc = cdx_vindex_create(&spec, dim, &vx, eb)) != CDX_OK)
            goto done;
        set_space(st, vx, auto_spec, nadd, st->mem_seq, st->mem_tomb);
    }
    pthread_rwlock_wrlock(&st->lock);
    if (nrm)
        rc = cdx_vindex_remove(st->vx, nrm, rm, NULL, eb);
    if (rc == CDX_OK && nadd)
        rc = cdx_vindex_add(st->vx, nadd, add_x, add_ids, s->threads, eb);
    if (rc == CDX_OK) {
        st->mem_seq = max_seq;
        st->mem_tomb = max_tomb;
        if (st->unsaved == 0)
            st->oldest_unsaved_ns = cdx_clock_ns();
        st->unsaved += nadd + nrm;
    }
    pthread_rwlock_unlock(&st->lock);
done:
    free(rm);
    free(add_ids);
    free(add_x);
    return rc;
}

int cdx_store_put_batch(cdx_store *s, cdx_item *items, const float *image_vectors, const float *caption_vectors,
                        int32_t n, cdx_errbuf *eb)
{
    int rc = need_writable(s, "put", eb);
    if (rc != CDX_OK)
        return rc;
    if (n < 0 || (n > 0 && (!items || !image_vectors)))
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "put batch: items and image vectors are required");
    if (n == 0)
        return CDX_OK;
    cdx_put_result *res = calloc((size_t)n, sizeof *res);
    if (!res)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "put batch: out of memory");
    pthread_mutex_lock(&s->wlock);
    rc = cdx_catalog_put_batch(s->cat, s->stamp.contract_id, s->stamp.dim, items, image_vectors, caption_vectors, n,
                               res, eb);
    if (rc == CDX_OK) {
        /* Acknowledged from here on: index trouble is logged and healed, not returned. */
        int any_replaced = 0;
        for (int32_t i = 0; i < n; i++)
            any_replaced |= res[i].had_vectors;
        int64_t max_tomb = s->sp[CDX_SPACE_IMAGE].mem_tomb;
        cdx_catalog_counts cnt;
        cdx_errbuf ieb = {0};
        if (any_replaced && cdx_catalog_counts_get(s->cat, s->stamp.contract_id, &cnt, &ieb) == CDX_OK)
            max_tomb = cnt.tomb_hw;
        for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++) {
            const float *v = sp == CDX_SPACE_IMAGE ? image_vectors : caption_vectors;
            if (!v && !any_replaced)
                continue;
            if (s->sp[sp].stale ||
                apply_space(s, sp, items, v ? v : image_vectors, res, n, CDX_MAX(max_tomb, s->sp[sp].mem_tomb), &ieb) !=
                    CDX_OK) {
                /* The catalog has the batch; the index is rebuilt from it now,
                 * or at the next checkpoint if that fails too. */
                cdx_log_error("index", "%s index update failed after commit (%s); rebuilding it from the catalog",
                              space_names[sp], cdx_errbuf_msg(&ieb));
                s->sp[sp].stale = rebuild_space(s, sp, &ieb) != CDX_OK;
            }
        }
        if (checkpoint_locked(s, 0, &ieb) != CDX_OK) {
            cdx_log_warn("index", "checkpoint of %s failed (nothing acknowledged is lost; will retry): %s", s->dir,
                         cdx_errbuf_msg(&ieb));
            s->last_checkpoint_err = ieb;
        }
    }
    pthread_mutex_unlock(&s->wlock);
    free(res);
    return rc;
}

int cdx_store_delete_item(cdx_store *s, int64_t id, cdx_errbuf *eb)
{
    int rc = need_writable(s, "delete", eb);
    if (rc != CDX_OK)
        return rc;
    int32_t had[CDX_SPACE_COUNT];
    pthread_mutex_lock(&s->wlock);
    rc = cdx_catalog_delete_item(s->cat, id, had, eb);
    if (rc == CDX_OK) {
        cdx_catalog_counts cnt;
        cdx_errbuf ieb = {0};
        int64_t max_tomb = cdx_catalog_counts_get(s->cat, s->stamp.contract_id, &cnt, &ieb) == CDX_OK ? cnt.tomb_hw : 0;
        for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++) {
            space_state *st = &s->sp[sp];
            if (!st->vx)
                continue;
            pthread_rwlock_wrlock(&st->lock);
            int r = had[sp] ? cdx_vindex_remove(st->vx, 1, &id, NULL, &ieb) : CDX_OK;
            if (r == CDX_OK) {
                st->mem_tomb = CDX_MAX(st->mem_tomb, max_tomb);
                if (had[sp]) {
                    if (st->unsaved == 0)
                        st->oldest_unsaved_ns = cdx_clock_ns();
                    st->unsaved++;
                }
            } else {
                st->stale = 1;
            }
            pthread_rwlock_unlock(&st->lock);
        }
    }
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

int cdx_store_put_failure(cdx_store *s, const cdx_failure *f, cdx_errbuf *eb)
{
    int rc = need_writable(s, "record failure in", eb);
    if (rc != CDX_OK)
        return rc;
    pthread_mutex_lock(&s->wlock);
    rc = cdx_catalog_put_failure(s->cat, s->stamp.contract_id, f, eb);
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

/* ---- reads ---- */

int cdx_store_lookup_uri(cdx_store *s, const char *uri, cdx_item_state *out, cdx_errbuf *eb)
{
    return cdx_catalog_lookup_uri(s->cat, s->stamp.contract_id, uri, out, eb);
}

int cdx_store_lookup_hash(cdx_store *s, cdx_hash128 h, int64_t *id, cdx_errbuf *eb)
{
    return cdx_catalog_lookup_hash(s->cat, s->stamp.contract_id, h, id, eb);
}

int cdx_store_get_vector(cdx_store *s, int64_t id, enum cdx_space space, float *out, cdx_errbuf *eb)
{
    if ((unsigned)space >= CDX_SPACE_COUNT)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "get vector: space %d", (int)space);
    return cdx_catalog_get_vector(s->cat, s->stamp.contract_id, id, space, s->stamp.dim, out, eb);
}

int cdx_store_get_item(cdx_store *s, int64_t id, cdx_item_row *out, cdx_errbuf *eb)
{
    return cdx_catalog_get_item(s->cat, id, out, eb);
}

void cdx_item_row_clear(cdx_item_row *row)
{
    if (!row)
        return;
    CDX_FREE(row->uri);
    CDX_FREE(row->caption);
    CDX_FREE(row->meta_json);
}

int cdx_store_list_failures(cdx_store *s, cdx_failure_fn fn, void *ctx, cdx_errbuf *eb)
{
    return cdx_catalog_list_failures(s->cat, fn, ctx, eb);
}

#define CDX_STORE_MAX_K 10000

int cdx_store_search(cdx_store *s, enum cdx_space space, const float *queries, int32_t nq, int32_t k, int32_t effort,
                     int64_t *ids, float *scores, cdx_errbuf *eb)
{
    if ((unsigned)space >= CDX_SPACE_COUNT)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "search: space %d", (int)space);
    if (nq <= 0 || k <= 0 || k > CDX_STORE_MAX_K || effort < 0)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "search: nq %d, k %d (1..%d), effort %d", nq, k, CDX_STORE_MAX_K,
                              effort);
    space_state *st = &s->sp[space];
    pthread_rwlock_rdlock(&st->lock);
    int rc = CDX_OK;
    if (!st->vx || cdx_vindex_count(st->vx) == 0) {
        for (int64_t i = 0; i < (int64_t)nq * k; i++) {
            ids[i] = -1;
            scores[i] = -INFINITY;
        }
    } else {
        fetch_ctx fc = {s, space};
        rc = cdx_vindex_search_exact(st->vx, nq, queries, k, effort, s->threads, fetch_exact, &fc, ids, scores, eb);
    }
    pthread_rwlock_unlock(&st->lock);
    return rc;
}

int cdx_store_get_info(cdx_store *s, cdx_store_info *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    cdx_catalog_counts cnt;
    int rc = cdx_catalog_counts_get(s->cat, s->stamp.contract_id, &cnt, eb);
    if (rc != CDX_OK)
        return rc;
    snprintf(out->contract_id, sizeof out->contract_id, "%s", s->stamp.contract_id);
    snprintf(out->space_hash, sizeof out->space_hash, "%s", s->stamp.space_hash);
    out->dim = s->stamp.dim;
    out->schema_version = cdx_catalog_schema_version(s->cat);
    out->items = cnt.items;
    out->failures = cnt.failures;
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++) {
        space_state *st = &s->sp[sp];
        pthread_rwlock_rdlock(&st->lock);
        out->space[sp].vectors = cnt.vectors[sp];
        out->space[sp].watermark = st->has_file ? st->saved_seq : 0;
        if (st->vx) {
            cdx_index_spec_format(cdx_vindex_spec(st->vx), out->space[sp].spec, sizeof out->space[sp].spec);
            out->space[sp].indexed = cdx_vindex_count(st->vx);
            out->space[sp].memory_bytes = cdx_vindex_memory(st->vx);
        }
        pthread_rwlock_unlock(&st->lock);
    }
    return CDX_OK;
}

/* ---- internal API (store_internal.h) ---- */

int cdx_store_rebuild(cdx_store *s, int32_t space, cdx_errbuf *eb)
{
    int rc = need_writable(s, "rebuild", eb);
    if (rc != CDX_OK)
        return rc;
    pthread_mutex_lock(&s->wlock);
    rc = rebuild_space(s, space, eb);
    if (rc == CDX_OK)
        rc = checkpoint_space(s, space, eb);
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

int cdx_store_index_ids(cdx_store *s, int32_t space, int64_t **ids, int64_t *n, cdx_errbuf *eb)
{
    space_state *st = &s->sp[space];
    *ids = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&st->lock);
    int rc = CDX_OK;
    if (st->vx) {
        *n = cdx_vindex_count(st->vx);
        rc = cdx_vindex_ids(st->vx, ids, eb);
    }
    pthread_rwlock_unlock(&st->lock);
    return rc;
}

cdx_catalog *cdx_store_catalog(cdx_store *s) { return s->cat; }

void cdx_store_load_status(const cdx_store *s, int32_t space, cdx_space_load *out) { *out = s->sp[space].load; }

int cdx_store_try_spec(cdx_store *s, int32_t space, const cdx_index_spec *spec, int32_t nq, cdx_tune_result *res,
                       uint64_t *memory, double *build_s, cdx_errbuf *eb)
{
    cdx_index_spec saved = s->want;
    s->want = *spec;
    cdx_vindex *vx = NULL;
    int32_t auto_spec;
    int64_t planned, seq, tomb;
    int64_t t0 = cdx_clock_ns();
    pthread_mutex_lock(&s->wlock);
    int rc = build_space(s, space, &vx, &auto_spec, &planned, &seq, &tomb, eb);
    pthread_mutex_unlock(&s->wlock);
    s->want = saved;
    *build_s = (double)(cdx_clock_ns() - t0) / 1e9;
    if (rc == CDX_OK && !vx)
        rc = cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "the %s space has no vectors", space_names[space]);
    if (rc == CDX_OK && cdx_vindex_spec(vx)->kind != spec->kind && spec->kind != CDX_INDEX_AUTO)
        rc = cdx_errbuf_set(eb, CDX_ERR_INVAL, "%s needs at least %lld vectors to train", cdx_index_kind_name(spec->kind),
                            (long long)cdx_plan_min_train(spec));
    if (rc == CDX_OK) {
        *memory = cdx_vindex_memory(vx);
        rc = tune_space(s, space, vx, nq, res, NULL, NULL, eb);
    }
    cdx_vindex_free(vx);
    return rc;
}
const char *cdx_store_contract_id(const cdx_store *s) { return s->stamp.contract_id; }
int32_t cdx_store_dim(const cdx_store *s) { return s->stamp.dim; }
int32_t cdx_store_threads(const cdx_store *s) { return s->threads; }
const char *cdx_store_space_name(int32_t space)
{
    return space >= 0 && space < CDX_SPACE_COUNT ? space_names[space] : "?";
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Compares two ascending id lists. */
static void diff_ids(const int64_t *idx, int64_t ni, const int64_t *cat, int64_t nc, cdx_verify_space *v)
{
    int64_t i = 0, j = 0;
    while (i < ni || j < nc) {
        if (i > 0 && i < ni && idx[i] == idx[i - 1]) {
            v->duplicates++;
            i++;
        } else if (j >= nc || (i < ni && idx[i] < cat[j])) {
            if (!v->extra++)
                v->first_extra = idx[i];
            i++;
        } else if (i >= ni || cat[j] < idx[i]) {
            if (!v->missing++)
                v->first_missing = cat[j];
            j++;
        } else {
            i++;
            j++;
        }
    }
}

int cdx_store_verify(cdx_store *s, cdx_verify_report *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    cdx_errbuf ieb = {0};
    int rc = cdx_catalog_integrity(s->cat, &out->integrity_ok, &ieb);
    if (rc != CDX_OK)
        return cdx_errbuf_set(eb, rc, "%s", cdx_errbuf_msg(&ieb));
    snprintf(out->integrity, sizeof out->integrity, "%s", out->integrity_ok ? "ok" : cdx_errbuf_msg(&ieb));
    out->ok = out->integrity_ok;
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++) {
        cdx_verify_space *v = &out->space[sp];
        v->load = s->sp[sp].load;
        int64_t *idx = NULL, *cat = NULL, ni = 0, nc = 0;
        if ((rc = cdx_store_index_ids(s, sp, &idx, &ni, eb)) == CDX_OK)
            rc = cdx_catalog_space_ids(s->cat, s->stamp.contract_id, sp, &cat, &nc, eb);
        if (rc == CDX_OK) {
            if (ni > 1)
                qsort(idx, (size_t)ni, sizeof *idx, cmp_i64);
            diff_ids(idx, ni, cat, nc, v);
            v->indexed = ni;
            v->catalog_rows = nc;
        }
        free(idx);
        free(cat);
        if (rc != CDX_OK)
            return rc;
        /* No sidecar at all is a directory not checkpointed yet (a crash
         * before the first one): the index was built from the catalog, and
         * nothing disagrees. */
        if ((v->load.status != CDX_OK && v->load.status != CDX_ERR_NOTFOUND) || v->missing || v->extra ||
            v->duplicates)
            out->ok = 0;
    }
    return CDX_OK;
}
