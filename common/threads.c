/* The process-wide thread budget (see threads.h): one plan for ORT, libvips,
 * OpenMP and OpenBLAS, made from the cores this process may use.
 *
 * The rules, and why:
 *   - ORT intra-op = cores in every role. The tower is the most expensive stage
 *     of both paths; concurrent Run calls on one session share its pool, so
 *     the pool never holds more threads than cores.
 *   - ORT inter-op = 1: sessions run in sequential mode, the pool is unused.
 *   - libvips = 1: clipdex streams decoded rows through its own resampler, so
 *     libvips' per-operation pool adds threads, not throughput. Parallelism
 *     comes from running several decode workers instead.
 *   - ingest: decode workers start at half the cores (at least 1), and ingest
 *     re-balances them from measured stage costs (cdx_threads_balance_workers)
 *     unless the user pinned them. FAISS only adds vectors there (small next
 *     to the tower, overlapped with it): OpenMP 1.
 *   - serve: one request worker per core; a query searches one vector, where
 *     FAISS gains nothing from OpenMP: 1.
 *   - tool: one thing at a time, so OpenMP gets every core.
 *   - OpenBLAS = 1 except for tools: FAISS calls BLAS from inside OpenMP
 *     regions and ORT has its own GEMMs; a second all-cores pool nested in
 *     those only oversubscribes. */
#include "common/threads.h"

#include "common/log.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 1024

static const char *const role_names[] = {"tool", "ingest", "serve"};

const char *cdx_threads_role_name(enum cdx_threads_role r)
{
    return (unsigned)r < sizeof role_names / sizeof role_names[0] ? role_names[r] : "?";
}

cdx_threads_params cdx_threads_default_params(void)
{
    return (cdx_threads_params){.role = CDX_THREADS_ROLE_TOOL};
}

/* ceil(quota / period) from cgroup v2's "cpu.max" ("max 100000" or "150000 100000"), 0 when unlimited. */
static int32_t cgroup_v2_cores(void)
{
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (!f)
        return 0;
    char quota[32] = "";
    long long period = 0;
    int n = fscanf(f, "%31s %lld", quota, &period);
    fclose(f);
    if (n != 2 || strcmp(quota, "max") == 0 || period <= 0)
        return 0;
    long long q = atoll(quota);
    return q > 0 ? (int32_t)((q + period - 1) / period) : 0;
}

static long long read_ll(const char *path)
{
    FILE *f = fopen(path, "r");
    long long v = -1;
    if (f) {
        if (fscanf(f, "%lld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int32_t cgroup_v1_cores(void)
{
    long long q = read_ll("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
    long long p = read_ll("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    return q > 0 && p > 0 ? (int32_t)((q + p - 1) / p) : 0;
}

int32_t cdx_threads_usable_cores(char *source, size_t cap)
{
    cpu_set_t set;
    int32_t cores = 0;
    const char *src = "affinity";
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cores = (int32_t)CPU_COUNT(&set);
    if (cores < 1) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cores = n > 0 ? (int32_t)n : 1;
        src = "online CPUs";
    }
    int32_t quota = cgroup_v2_cores();
    const char *qsrc = "cgroup cpu.max";
    if (quota == 0) {
        quota = cgroup_v1_cores();
        qsrc = "cgroup cfs quota";
    }
    if (quota > 0 && quota < cores) {
        cores = quota;
        src = qsrc;
    }
    if (source && cap)
        snprintf(source, cap, "%s", src);
    return cores;
}

static int32_t pick(int32_t given, int32_t planned, uint32_t bit, uint32_t *overridden)
{
    if (given > 0) {
        *overridden |= bit;
        return given;
    }
    return planned < 1 ? 1 : planned;
}

void cdx_threads_plan(const cdx_threads_params *p, cdx_threads_budget *out)
{
    cdx_threads_params in = p ? *p : cdx_threads_default_params();
    memset(out, 0, sizeof *out);
    out->role = in.role;
    if (in.cores > 0) {
        out->cores = in.cores;
        out->overridden |= CDX_THREADS_FIELD_CORES;
        snprintf(out->cores_source, sizeof out->cores_source, "given");
    } else {
        out->cores = cdx_threads_usable_cores(out->cores_source, sizeof out->cores_source);
    }
    int32_t c = out->cores;
    int32_t workers = 1, omp = 1, blas = 1, ort = c;
    switch (in.role) {
    case CDX_THREADS_ROLE_INGEST: workers = (c + 1) / 2; break;
    /* A server runs many small calls at once: one core per call and as many
     * calls as cores (the server's encoder slots) beats one call on every
     * core, whose threads meet at every operator and wait for each other on
     * a busy machine (docs/server.md, "Benchmark"). */
    case CDX_THREADS_ROLE_SERVE: workers = c, ort = 1; break;
    case CDX_THREADS_ROLE_TOOL: omp = c, blas = c; break;
    }
    uint32_t *ov = &out->overridden;
    out->ort_intra = pick(in.ort_intra, ort, CDX_THREADS_FIELD_ORT_INTRA, ov);
    out->ort_inter = pick(in.ort_inter, 1, CDX_THREADS_FIELD_ORT_INTER, ov);
    out->workers = pick(in.workers, workers, CDX_THREADS_FIELD_WORKERS, ov);
    out->vips = pick(in.vips, 1, CDX_THREADS_FIELD_VIPS, ov);
    out->omp = pick(in.omp, omp, CDX_THREADS_FIELD_OMP, ov);
    out->blas = pick(in.blas, blas, CDX_THREADS_FIELD_BLAS, ov);
}

/* The override keys: a table, so parse and the error message agree. */
static const struct {
    const char *key;
    size_t offset;
} keys[] = {
    {"cores", offsetof(cdx_threads_params, cores)},         {"ort", offsetof(cdx_threads_params, ort_intra)},
    {"ort_intra", offsetof(cdx_threads_params, ort_intra)}, {"inter", offsetof(cdx_threads_params, ort_inter)},
    {"ort_inter", offsetof(cdx_threads_params, ort_inter)}, {"workers", offsetof(cdx_threads_params, workers)},
    {"decode", offsetof(cdx_threads_params, workers)},      {"vips", offsetof(cdx_threads_params, vips)},
    {"omp", offsetof(cdx_threads_params, omp)},             {"blas", offsetof(cdx_threads_params, blas)},
};

int cdx_threads_parse(const char *spec, cdx_threads_params *p, cdx_errbuf *eb)
{
    if (!spec)
        return CDX_OK;
    cdx_threads_params out = *p;
    const char *s = spec;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        size_t klen = eq ? (size_t)(eq - s) : len;
        size_t k = 0;
        for (; k < sizeof keys / sizeof keys[0]; k++)
            if (strlen(keys[k].key) == klen && strncmp(keys[k].key, s, klen) == 0)
                break;
        long v = -1;
        if (eq && eq + 1 < s + len && isdigit((unsigned char)eq[1])) {
            char *num_end;
            errno = 0;
            v = strtol(eq + 1, &num_end, 10);
            if (num_end != s + len || errno)
                v = -1;
        }
        if (k == sizeof keys / sizeof keys[0] || v < 1 || v > MAX_THREADS)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE,
                                  "threads '%s': bad entry '%.*s': expected KEY=N (N in 1..%d), KEY one of "
                                  "cores, ort, inter, workers (decode), vips, omp, blas",
                                  spec, (int)(len > 64 ? 64 : len), s, MAX_THREADS);
        *(int32_t *)((char *)&out + keys[k].offset) = (int32_t)v;
        s += len;
        if (*s == ',')
            s++;
    }
    *p = out;
    return CDX_OK;
}

char *cdx_threads_format(const cdx_threads_budget *b, char *buf, size_t cap)
{
#define MARK(bit) ((b->overridden & (bit)) ? "*" : "")
    snprintf(buf, cap, "cores=%d%s (%s) role=%s ort=%d%s/%d%s workers=%d%s vips=%d%s omp=%d%s blas=%d%s", b->cores,
             MARK(CDX_THREADS_FIELD_CORES), b->cores_source, cdx_threads_role_name(b->role), b->ort_intra,
             MARK(CDX_THREADS_FIELD_ORT_INTRA), b->ort_inter, MARK(CDX_THREADS_FIELD_ORT_INTER), b->workers,
             MARK(CDX_THREADS_FIELD_WORKERS), b->vips, MARK(CDX_THREADS_FIELD_VIPS), b->omp,
             MARK(CDX_THREADS_FIELD_OMP), b->blas, MARK(CDX_THREADS_FIELD_BLAS));
#undef MARK
    return buf;
}

/* ---- the current budget ---------------------------------------------------- */

static pthread_mutex_t current_mu = PTHREAD_MUTEX_INITIALIZER;
static cdx_threads_budget current;
static int have_current;
static atomic_int current_omp = 0;

typedef void (*set_threads_fn)(int);

static set_threads_fn find_fn(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    set_threads_fn fn;
    memcpy(&fn, &f, sizeof fn); /* object pointer -> function pointer without a pedantic cast */
    return fn;
}

static void plan_from_env_locked(void)
{
    cdx_threads_params p = cdx_threads_default_params();
    const char *env = getenv("CDX_THREADS");
    cdx_errbuf eb = {0};
    if (env && cdx_threads_parse(env, &p, &eb) != CDX_OK) {
        cdx_log_warn("threads", "CDX_THREADS ignored: %s", cdx_errbuf_msg(&eb));
        p = cdx_threads_default_params();
    }
    cdx_threads_plan(&p, &current);
    atomic_store(&current_omp, current.omp);
    have_current = 1;
}

void cdx_threads_current(cdx_threads_budget *out)
{
    pthread_mutex_lock(&current_mu);
    if (!have_current)
        plan_from_env_locked();
    *out = current;
    pthread_mutex_unlock(&current_mu);
}

void cdx_threads_enter_omp(void)
{
    int n = atomic_load(&current_omp);
    if (n == 0) {
        cdx_threads_budget b;
        cdx_threads_current(&b);
        n = b.omp;
    }
    set_threads_fn omp_set = find_fn("omp_set_num_threads");
    if (omp_set)
        omp_set(n);
}

void cdx_threads_apply(const cdx_threads_budget *b)
{
    pthread_mutex_lock(&current_mu);
    current = *b;
    have_current = 1;
    atomic_store(&current_omp, b->omp);
    pthread_mutex_unlock(&current_mu);

    set_threads_fn blas_set = find_fn("openblas_set_num_threads");
    set_threads_fn omp_set = find_fn("omp_set_num_threads");
    if (blas_set)
        blas_set(b->blas);
    if (omp_set)
        omp_set(b->omp);
    char line[256];
    cdx_log_info("threads", "budget %s%s%s", cdx_threads_format(b, line, sizeof line),
                 blas_set ? "" : "; OpenBLAS not loaded", omp_set ? "" : "; OpenMP not loaded");
}

int32_t cdx_threads_balance_workers(double decode_ms, double tower_ms, int32_t max_workers)
{
    if (max_workers < 1)
        max_workers = 1;
    if (!(decode_ms > 0) || !(tower_ms > 0))
        return 1;
    /* Enough workers that decoding outpaces the tower by 10%, no more: an
     * extra worker would only take cycles from the tower's threads. */
    double need = decode_ms / tower_ms * 1.1;
    int32_t w = (int32_t)need;
    if ((double)w < need)
        w++;
    return w < 1 ? 1 : w > max_workers ? max_workers : w;
}
