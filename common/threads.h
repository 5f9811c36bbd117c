/* The process-wide thread budget.
 *
 * Four libraries bring thread pools of their own: ONNX Runtime (intra- and
 * inter-op), libvips (vips_concurrency), FAISS (OpenMP) and OpenBLAS. Left
 * alone, each sizes itself to "all cores", and on a 2-core machine that is 8
 * busy threads fighting for 2 cores. clipdex plans all of them together from
 * one budget (the cores this process may use), for the role the process plays,
 * logs the plan once, and lets flags (or CDX_THREADS) override any part.
 *
 *   cdx_threads_params p = cdx_threads_default_params();
 *   p.role = CDX_THREADS_ROLE_INGEST;
 *   cdx_threads_parse(flag_or_env, &p, eb);    // "ort=2,workers=1,omp=1"
 *   cdx_threads_budget b;
 *   cdx_threads_plan(&p, &b);
 *   cdx_threads_apply(&b);                     // OpenBLAS, OpenMP, logged; now current
 *
 * Who applies what: cdx_threads_apply sets OpenBLAS (process-wide) and OpenMP
 * for the calling thread; OpenMP's thread count is per thread, so any other
 * thread that calls into FAISS calls cdx_threads_enter_omp() first. The ORT
 * intra-op count is read by the encoder's towers when their provider spec sets
 * none (cdx_threads_current), and vips_concurrency by the preprocess params the
 * caller fills from the budget. OpenMP and OpenBLAS are looked up at run time
 * (dlsym), so common/ does not link them; one that is not loaded is reported
 * as such and skipped. */
#ifndef CDX_COMMON_THREADS_H
#define CDX_COMMON_THREADS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the process mostly does decides how the budget is split. */
enum cdx_threads_role {
    CDX_THREADS_ROLE_TOOL = 0,   /* one-shot commands: one thing at a time, all cores to it */
    CDX_THREADS_ROLE_INGEST = 1, /* decode workers and the image tower run at once */
    CDX_THREADS_ROLE_SERVE = 2,  /* request workers, each running a tower or a search */
};

typedef struct cdx_threads_params {
    enum cdx_threads_role role;  /* default TOOL */
    /* Every field below: 0 = plan it; > 0 = this many (an override). */
    int32_t cores;      /* the budget; default: CPUs in the affinity mask, capped by a cgroup CPU quota */
    int32_t ort_intra;  /* ORT intra-op threads per session */
    int32_t ort_inter;  /* ORT inter-op threads (only parallel execution mode uses them) */
    int32_t workers;    /* the role's own workers: ingest decode workers, server request workers */
    int32_t vips;       /* libvips worker threads per operation (vips_concurrency) */
    int32_t omp;        /* OpenMP threads (FAISS) */
    int32_t blas;       /* OpenBLAS threads */
} cdx_threads_params;

cdx_threads_params cdx_threads_default_params(void);

/* Which fields of a budget were given by the user rather than planned. */
enum cdx_threads_field {
    CDX_THREADS_FIELD_CORES = 1 << 0,
    CDX_THREADS_FIELD_ORT_INTRA = 1 << 1,
    CDX_THREADS_FIELD_ORT_INTER = 1 << 2,
    CDX_THREADS_FIELD_WORKERS = 1 << 3,
    CDX_THREADS_FIELD_VIPS = 1 << 4,
    CDX_THREADS_FIELD_OMP = 1 << 5,
    CDX_THREADS_FIELD_BLAS = 1 << 6,
};

typedef struct cdx_threads_budget {
    enum cdx_threads_role role;
    int32_t cores;
    int32_t ort_intra, ort_inter, workers, vips, omp, blas; /* all >= 1 */
    uint32_t overridden;        /* enum cdx_threads_field bits */
    char cores_source[64];      /* how cores was found: "affinity", "cgroup cpu.max", "--threads" ... */
} cdx_threads_budget;

/* Cores this process may use: the affinity mask, capped by a cgroup v2/v1
 * CPU quota (rounded up). source (may be NULL) names which one decided. */
int32_t cdx_threads_usable_cores(char *source, size_t cap);

/* Plans the budget: overrides are kept as given, the rest is derived from
 * cores and the role (see threads.c for the rules and why). Never fails. */
void cdx_threads_plan(const cdx_threads_params *p, cdx_threads_budget *out);

/* Parses a comma-separated override list into p, keeping fields not named:
 * "cores=2,ort=2,inter=1,workers=1,vips=1,omp=1,blas=1" (also "decode" for
 * workers, "ort_intra"/"ort_inter"). NULL or "" changes nothing. Values are
 * 1..1024. CDX_ERR_PARSE names the bad entry and lists the keys. */
int cdx_threads_parse(const char *spec, cdx_threads_params *p, cdx_errbuf *eb);

/* Sizes OpenBLAS and this thread's OpenMP from b, makes b the process's
 * current budget and logs it (component "threads", info) with what was
 * applied and what was not found. Later calls replace the current budget. */
void cdx_threads_apply(const cdx_threads_budget *b);

/* The current budget: the last one applied, else the TOOL plan with
 * CDX_THREADS from the environment (planned once, on first use). */
void cdx_threads_current(cdx_threads_budget *out);

/* Sets the calling thread's OpenMP thread count to the current budget's omp.
 * Cheap; call it on a thread before it calls into FAISS. */
void cdx_threads_enter_omp(void);

/* "cores=2 (affinity) role=ingest ort=2/1 workers=1 vips=1 omp=1 blas=1",
 * overrides marked with '*'. Returns buf. */
char *cdx_threads_format(const cdx_threads_budget *b, char *buf, size_t cap);

const char *cdx_threads_role_name(enum cdx_threads_role r);

/* Ingest's balance between decode workers and the tower, from measured costs:
 * decode_ms is the CPU time one decode takes on one thread, tower_ms the wall
 * time the tower takes per image with ort_intra threads. Returns how many
 * decode workers keep the tower fed without taking more cores than that needs,
 * in 1..max_workers. */
int32_t cdx_threads_balance_workers(double decode_ms, double tower_ms, int32_t max_workers);

#ifdef __cplusplus
}
#endif
#endif
