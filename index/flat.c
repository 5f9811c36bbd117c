/* Exact vector index: a contiguous float matrix, its ids, and an id -> row
 * hash. Search blocks the matrix by 64 rows and scores every query of a batch
 * against a block while it is in cache (2 queries x 4 rows per AVX2 step),
 * so a batch of 32 queries costs little more memory traffic than one. Rows
 * are split across threads for large scans; each thread keeps its own top-k
 * heaps and the results are merged at the end. */
#include "index/flat.h"

#include "common/util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CDX_X86 1
#endif

struct cdx_flat {
    int32_t dim;
    int64_t n, cap;
    float *x;        /* cap * dim */
    int64_t *ids;    /* cap */
    /* open addressing, linear probing; slot holds row+1, 0 = empty */
    int64_t *hslot;
    uint64_t hcap;   /* power of two */
};

/* ---- kernels ---- */

static float dot_generic(const float *a, const float *b, int32_t dim)
{
    float s[8] = {0};
    int32_t j = 0;
    for (; j + 8 <= dim; j += 8)
        for (int t = 0; t < 8; t++)
            s[t] += a[j + t] * b[j + t];
    float r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; j < dim; j++)
        r += a[j] * b[j];
    return r;
}

static void block_generic(const float *q, int64_t nq, const float *x, int64_t nx, int32_t dim, float *out)
{
    for (int64_t i = 0; i < nq; i++)
        for (int64_t r = 0; r < nx; r++)
            out[i * nx + r] = dot_generic(q + i * dim, x + r * dim, dim);
}

#ifdef CDX_X86
__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int32_t dim)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int32_t j = 0;
    for (; j + 16 <= dim; j += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), s1);
    }
    for (; j + 8 <= dim; j += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
    float r = hsum256(_mm256_add_ps(s0, s1));
    for (; j < dim; j++)
        r += a[j] * b[j];
    return r;
}

/* Scores of queries q0 (and q1 when not NULL) against 4 rows. */
__attribute__((target("avx2,fma"))) static void kernel_2x4(const float *q0, const float *q1, const float *x,
                                                          int32_t dim, float o0[4], float o1[4])
{
    const float *x0 = x, *x1 = x + dim, *x2 = x + 2 * dim, *x3 = x + 3 * dim;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int32_t d8 = dim & ~7, j = 0;
    if (q1) {
        for (; j < d8; j += 8) {
            __m256 v0 = _mm256_loadu_ps(x0 + j), v1 = _mm256_loadu_ps(x1 + j);
            __m256 v2 = _mm256_loadu_ps(x2 + j), v3 = _mm256_loadu_ps(x3 + j);
            __m256 p = _mm256_loadu_ps(q0 + j), r = _mm256_loadu_ps(q1 + j);
            a0 = _mm256_fmadd_ps(p, v0, a0);
            a1 = _mm256_fmadd_ps(p, v1, a1);
            a2 = _mm256_fmadd_ps(p, v2, a2);
            a3 = _mm256_fmadd_ps(p, v3, a3);
            b0 = _mm256_fmadd_ps(r, v0, b0);
            b1 = _mm256_fmadd_ps(r, v1, b1);
            b2 = _mm256_fmadd_ps(r, v2, b2);
            b3 = _mm256_fmadd_ps(r, v3, b3);
        }
    } else {
        for (; j < d8; j += 8) {
            __m256 p = _mm256_loadu_ps(q0 + j);
            a0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(x0 + j), a0);
            a1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(x1 + j), a1);
            a2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(x2 + j), a2);
            a3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(x3 + j), a3);
        }
    }
    o0[0] = hsum256(a0);
    o0[1] = hsum256(a1);
    o0[2] = hsum256(a2);
    o0[3] = hsum256(a3);
    for (int32_t t = d8; t < dim; t++) {
        o0[0] += q0[t] * x0[t];
        o0[1] += q0[t] * x1[t];
        o0[2] += q0[t] * x2[t];
        o0[3] += q0[t] * x3[t];
    }
    if (q1) {
        o1[0] = hsum256(b0);
        o1[1] = hsum256(b1);
        o1[2] = hsum256(b2);
        o1[3] = hsum256(b3);
        for (int32_t t = d8; t < dim; t++) {
            o1[0] += q1[t] * x0[t];
            o1[1] += q1[t] * x1[t];
            o1[2] += q1[t] * x2[t];
            o1[3] += q1[t] * x3[t];
        }
    }
}

__attribute__((target("avx2,fma"))) static void block_avx2(const float *q, int64_t nq, const float *x, int64_t nx,
                                                          int32_t dim, float *out)
{
    int64_t r = 0;
    for (; r + 4 <= nx; r += 4) {
        const float *xr = x + r * dim;
        int64_t i = 0;
        for (; i + 2 <= nq; i += 2)
            kernel_2x4(q + i * dim, q + (i + 1) * dim, xr, dim, out + i * nx + r, out + (i + 1) * nx + r);
        if (i < nq)
            kernel_2x4(q + i * dim, NULL, xr, dim, out + i * nx + r, NULL);
    }
    for (; r < nx; r++)
        for (int64_t i = 0; i < nq; i++)
            out[i * nx + r] = dot_avx2(q + i * dim, x + r * dim, dim);
}

static int have_avx2(void)
{
    static int cached = -1;
    if (cached < 0)
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached;
}
#endif

float cdx_dot(const float *a, const float *b, int32_t dim)
{
#ifdef CDX_X86
    if (have_avx2())
        return dot_avx2(a, b, dim);
#endif
    return dot_generic(a, b, dim);
}

static void score_block(const float *q, int64_t nq, const float *x, int64_t nx, int32_t dim, float *out)
{
#ifdef CDX_X86
    if (have_avx2()) {
        block_avx2(q, nq, x, nx, dim, out);
        return;
    }
#endif
    block_generic(q, nq, x, nx, dim, out);
}

/* ---- top-k: a min-heap per query, worst kept result at the root ---- */

typedef struct hit {
    float score;
    int64_t id;
} hit;

/* a is worse than b: lower score, or equal score and larger id (so ties
 * resolve to the smaller id, the same on every run). */
static inline int worse(const hit *a, const hit *b) { return a->score < b->score || (a->score == b->score && a->id > b->id); }

static void heap_push(hit *h, int32_t *len, int32_t k, hit v)
{
    if (*len < k) {
        int32_t i = (*len)++;
        while (i > 0) {
            int32_t p = (i - 1) / 2;
            if (!worse(&v, &h[p]))
                break;
            h[i] = h[p];
            i = p;
        }
        h[i] = v;
        return;
    }
    if (!worse(&h[0], &v))
        return;
    int32_t i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= k)
            break;
        if (c + 1 < k && worse(&h[c + 1], &h[c]))
            c++;
        if (!worse(&h[c], &v))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static int hit_cmp_best_first(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (worse(x, y))
        return 1;
    if (worse(y, x))
        return -1;
    return 0;
}

#define BLOCK_ROWS 64

typedef struct scan_job {
    const float *base;
    const int64_t *ids;
    int64_t begin, end;
    int32_t dim, k;
    const float *q;
    int64_t nq;
    hit *heaps;      /* nq * k */
    int32_t *lens;   /* nq */
    int rc;
} scan_job;

static void *scan_run(void *arg)
{
    scan_job *j = arg;
    float *buf = malloc(sizeof(float) * BLOCK_ROWS * (size_t)j->nq);
    if (!buf) {
        j->rc = CDX_ERR_NOMEM;
        return NULL;
    }
    for (int64_t r = j->begin; r < j->end; r += BLOCK_ROWS) {
        int64_t nx = CDX_MIN(BLOCK_ROWS, j->end - r);
        score_block(j->q, j->nq, j->base + r * j->dim, nx, j->dim, buf);
        for (int64_t i = 0; i < j->nq; i++) {
            hit *h = j->heaps + i * j->k;
            int32_t *len = &j->lens[i];
            const float *s = buf + i * nx;
            for (int64_t t = 0; t < nx; t++) {
                /* cheap reject before building the hit */
                if (*len == j->k && s[t] < h[0].score)
                    continue;
                hit v = {s[t], j->ids ? j->ids[r + t] : r + t};
                heap_push(h, len, j->k, v);
            }
        }
    }
    free(buf);
    return NULL;
}

#define MAX_SCAN_THREADS 64

int cdx_flat_scan(const float *base, const int64_t *ids, int64_t n, int32_t dim, const float *q, int64_t nq,
                  int32_t k, int32_t threads, int64_t *labels, float *scores)
{
    if (k <= 0 || nq <= 0)
        return CDX_OK;
    /* A thread pays off only with 16 MB of vectors or more to scan: starting
     * one costs tens of microseconds, and far more on a busy machine. */
    int64_t nt = threads > 1 ? threads : 1;
    nt = CDX_MIN(nt, MAX_SCAN_THREADS);
    nt = CDX_MIN(nt, CDX_MAX((int64_t)1, (n * dim) / (1 << 22)));
    scan_job jobs[MAX_SCAN_THREADS];
    pthread_t tids[MAX_SCAN_THREADS];
    hit *heaps = malloc(sizeof(hit) * (size_t)(nt * nq * k));
    int32_t *lens = calloc((size_t)(nt * nq), sizeof(int32_t));
    int rc = CDX_OK;
    if (!heaps || !lens) {
        rc = CDX_ERR_NOMEM;
        goto done;
    }
    int64_t per = (n + nt - 1) / nt;
    per = (per + BLOCK_ROWS - 1) / BLOCK_ROWS * BLOCK_ROWS;
    int joined[MAX_SCAN_THREADS] = {0};
    for (int64_t t = 0; t < nt; t++) {
        jobs[t] = (scan_job){base, ids, CDX_MIN(t * per, n), CDX_MIN((t + 1) * per, n), dim, k, q, nq,
                             heaps + t * nq * k, lens + t * nq, CDX_OK};
        if (t > 0)
            joined[t] = pthread_create(&tids[t], NULL, scan_run, &jobs[t]) == 0;
        if (t > 0 && !joined[t]) /* could not start a thread: do its share here */
            scan_run(&jobs[t]);
    }
    scan_run(&jobs[0]);
    for (int64_t t = 1; t < nt; t++)
        if (joined[t])
            pthread_join(tids[t], NULL);
    for (int64_t t = 0; t < nt; t++)
        if (jobs[t].rc != CDX_OK)
            rc = jobs[t].rc;
    if (rc != CDX_OK)
        goto done;
    /* Merge the threads' heaps into thread 0's, then sort best first. */
    for (int64_t i = 0; i < nq; i++) {
        hit *h = heaps + i * k;
        int32_t *len = &lens[i];
        for (int64_t t = 1; t < nt; t++)
            for (int32_t e = 0; e < lens[t * nq + i]; e++)
                heap_push(h, len, k, heaps[t * nq * k + i * k + e]);
        qsort(h, (size_t)*len, sizeof(hit), hit_cmp_best_first);
        for (int32_t e = 0; e < k; e++) {
            labels[i * k + e] = e < *len ? h[e].id : -1;
            scores[i * k + e] = e < *len ? h[e].score : -INFINITY;
        }
    }
done:
    free(heaps);
    free(lens);
    return rc;
}

/* ---- the index object ---- */

static uint64_t mix(int64_t id)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* The hash slot holding id, or the empty slot where it would go. */
static uint64_t hfind(const cdx_flat *f, int64_t id)
{
    uint64_t m = f->hcap - 1, i = mix(id) & m;
    while (f->hslot[i] && f->ids[f->hslot[i] - 1] != id)
        i = (i + 1) & m;
    return i;
}

static int hgrow(cdx_flat *f, uint64_t want)
{
    uint64_t cap = f->hcap ? f->hcap : 64;
    while (cap < want * 2)
        cap *= 2;
    if (cap == f->hcap)
        return CDX_OK;
    int64_t *slots = calloc(cap, sizeof(int64_t));
    if (!slots)
        return CDX_ERR_NOMEM;
    free(f->hslot);
    f->hslot = slots;
    f->hcap = cap;
    for (int64_t r = 0; r < f->n; r++)
        f->hslot[hfind(f, f->ids[r])] = r + 1;
    return CDX_OK;
}

/* Deletes slot i, shifting later entries of its probe run back (no tombstones). */
static void hdelete(cdx_flat *f, uint64_t i)
{
    uint64_t m = f->hcap - 1, j = i;
    f->hslot[i] = 0;
    for (;;) {
        j = (j + 1) & m;
        if (!f->hslot[j])
            return;
        uint64_t home = mix(f->ids[f->hslot[j] - 1]) & m;
        /* move j into the hole at i when home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            f->hslot[i] = f->hslot[j];
            f->hslot[j] = 0;
            i = j;
        }
    }
}

int cdx_flat_create(int32_t dim, cdx_flat **out)
{
    *out = NULL;
    cdx_flat *f = calloc(1, sizeof *f);
    if (!f)
        return CDX_ERR_NOMEM;
    f->dim = dim;
    if (hgrow(f, 32) != CDX_OK) {
        free(f);
        return CDX_ERR_NOMEM;
    }
    *out = f;
    return CDX_OK;
}

void cdx_flat_free(cdx_flat *f)
{
    if (!f)
        return;
    free(f->x);
    free(f->ids);
    free(f->hslot);
    free(f);
}

int32_t cdx_flat_dim(const cdx_flat *f) { return f->dim; }
int64_t cdx_flat_count(const cdx_flat *f) { return f->n; }

uint64_t cdx_flat_memory(const cdx_flat *f)
{
    return (uint64_t)f->cap * ((uint64_t)f->dim * sizeof(float) + sizeof(int64_t)) + f->hcap * sizeof(int64_t);
}

int cdx_flat_contains(const cdx_flat *f, int64_t id) { return f->hslot[hfind(f, id)] != 0; }

int cdx_flat_ids(const cdx_flat *f, int64_t *out)
{
    if (f->n)
        memcpy(out, f->ids, sizeof(int64_t) * (size_t)f->n);
    return CDX_OK;
}

/* Room for want rows: exactly want when exact, else grown by half until it fits. */
static int reserve(cdx_flat *f, int64_t want, int exact)
{
    if (want <= f->cap)
        return CDX_OK;
    int64_t cap = f->cap ? f->cap : 1024;
    while (cap < want)
        cap += cap / 2;
    if (exact)
        cap = want;
    float *x = realloc(f->x, (size_t)cap * (size_t)f->dim * sizeof(float));
    if (!x)
        return CDX_ERR_NOMEM;
    f->x = x;
    int64_t *ids = realloc(f->ids, (size_t)cap * sizeof(int64_t));
    if (!ids)
        return CDX_ERR_NOMEM;
    f->ids = ids;
    f->cap = cap;
    return hgrow(f, (uint64_t)cap);
}

int cdx_flat_reserve(cdx_flat *f, int64_t n) { return reserve(f, n, 1); }

int cdx_flat_add(cdx_flat *f, int64_t n, const float *x, const int64_t *ids)
{
    int rc = reserve(f, f->n + n, 0);
    if (rc != CDX_OK)
        return rc;
    size_t row = (size_t)f->dim * sizeof(float);
    for (int64_t i = 0; i < n; i++) {
        uint64_t s = hfind(f, ids[i]);
        int64_t r = f->hslot[s] ? f->hslot[s] - 1 : f->n++;
        memcpy(f->x + r * f->dim, x + i * f->dim, row);
        f->ids[r] = ids[i];
        f->hslot[s] = r + 1;
    }
    return CDX_OK;
}

int64_t cdx_flat_remove(cdx_flat *f, int64_t n, const int64_t *ids)
{
    int64_t removed = 0;
    size_t row = (size_t)f->dim * sizeof(float);
    for (int64_t i = 0; i < n; i++) {
        uint64_t s = hfind(f, ids[i]);
        if (!f->hslot[s])
            continue;
        int64_t r = f->hslot[s] - 1, last = f->n - 1;
        hdelete(f, s);
        if (r != last) { /* move the last row into the hole */
            memcpy(f->x + r * f->dim, f->x + last * f->dim, row);
            f->ids[r] = f->ids[last];
            f->hslot[hfind(f, f->ids[r])] = r + 1;
        }
        f->n--;
        removed++;
    }
    return removed;
}

int cdx_flat_search(const cdx_flat *f, int64_t nq, const float *q, int32_t k, int32_t threads, int64_t *ids,
                    float *scores)
{
    return cdx_flat_scan(f->x, f->ids, f->n, f->dim, q, nq, k, threads, ids, scores);
}

#define FLAT_MAGIC "CDXFLAT1"

int cdx_flat_write(const cdx_flat *f, cdx_write_fn w, void *ctx)
{
    int64_t hdr[2] = {f->n, f->dim};
    if (w(ctx, FLAT_MAGIC, 8) != 8 || w(ctx, hdr, sizeof hdr) != sizeof hdr)
        return CDX_ERR_IO;
    size_t nid = (size_t)f->n * sizeof(int64_t), nx = (size_t)f->n * (size_t)f->dim * sizeof(float);
    if ((nid && w(ctx, f->ids, nid) != nid) || (nx && w(ctx, f->x, nx) != nx))
        return CDX_ERR_IO;
    return CDX_OK;
}

int cdx_flat_read(cdx_read_fn r, void *ctx, int32_t dim, cdx_flat **out, cdx_errbuf *eb)
{
    *out = NULL;
    char magic[8];
    int64_t hdr[2];
    if (r(ctx, magic, 8) != 8 || memcmp(magic, FLAT_MAGIC, 8) != 0 || r(ctx, hdr, sizeof hdr) != sizeof hdr)
        return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "flat index: bad header");
    if (hdr[1] != dim || hdr[0] < 0 || hdr[0] > (INT64_C(1) << 40) / (dim > 0 ? dim : 1))
        return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "flat index: header says %lld vectors of %lld dims, expected %d dims",
                              (long long)hdr[0], (long long)hdr[1], dim);
    cdx_flat *f;
    if (cdx_flat_create(dim, &f) != CDX_OK || reserve(f, hdr[0], 1) != CDX_OK) {
        cdx_flat_free(f);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "flat index: no memory for %lld vectors", (long long)hdr[0]);
    }
    size_t nid = (size_t)hdr[0] * sizeof(int64_t), nx = (size_t)hdr[0] * (size_t)dim * sizeof(float);
    if ((nid && r(ctx, f->ids, nid) != nid) || (nx && r(ctx, f->x, nx) != nx)) {
        cdx_flat_free(f);
        return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "flat index: truncated");
    }
    for (int64_t i = 0; i < hdr[0]; i++) {
        uint64_t s = hfind(f, f->ids[i]);
        if (f->hslot[s]) {
            long long dup = (long long)f->ids[i];
            cdx_flat_free(f);
            return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "flat index: id %lld twice", dup);
        }
        f->hslot[s] = i + 1;
        f->n = i + 1;
    }
    *out = f;
    return CDX_OK;
}
