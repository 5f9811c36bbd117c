/* The crash loop shared by test_index_crash (>= 50 iterations, every run) and
 * test_index_crash_slow (thousands): a child process writes batches (new
 * items, replacements, deletes) and checkpoints into a data directory and is
 * SIGKILLed at a random moment; the parent reopens the directory and checks
 * that every acknowledged write is there exactly once, the index count equals
 * the vector rows and SQLite's integrity check passes.
 *
 * What "acknowledged" means is written by the child to a log after each call
 * returns CDX_OK ("A first count seed" for puts, "D item" for deletes), with an
 * intent line before the call, so the one call in flight when the kill lands
 * may or may not have happened. Header-only (static inline). */
#ifndef CDX_TEST_CRASH_LOOP_H
#define CDX_TEST_CRASH_LOOP_H

#include "store_fixture.h"

#include "index/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CL_DIM 16
#define CL_MAX_ITEMS 200000

typedef struct cl_state {
    int32_t n;                 /* uris 0..n-1 have been put at least once (acked) */
    uint8_t present[CL_MAX_ITEMS];
    uint32_t seed[CL_MAX_ITEMS];   /* the acked vector's seed */
    uint8_t in_flight[CL_MAX_ITEMS]; /* touched by the unacknowledged last call */
    char pend_op;              /* 'p' or 'x' when a call was in flight */
    uint32_t pend_seed;
    int64_t acked_calls;
} cl_state;

static inline void cl_vector(int32_t item, uint32_t seed, float *v)
{
    uint64_t s = ((uint64_t)item << 32 | seed) * 0x9e3779b97f4a7c15ULL + 3;
    double ss = 0;
    for (int j = 0; j < CL_DIM; j++) {
        v[j] = cdx_test_gauss(&s);
        ss += (double)v[j] * v[j];
    }
    for (int j = 0; j < CL_DIM; j++)
        v[j] = (float)(v[j] / sqrt(ss));
}

/* Replays the child's log into st. */
static inline void cl_read_log(const char *path, cl_state *st)
{
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[128];
    int32_t pend_first = -1, pend_count = 0;
    while (fgets(line, sizeof line, f)) {
        char op;
        long a = 0, b = 0, c = 0;
        int got = sscanf(line, "%c %ld %ld %ld", &op, &a, &b, &c);
        if (got < 2 || !strchr(line, '\n'))
            break; /* a torn last line: the kill landed mid-write */
        if (op == 'p' || op == 'x') { /* intents */
            pend_first = (int32_t)a;
            pend_count = op == 'p' ? (int32_t)b : 1;
            st->pend_op = op;
            st->pend_seed = (uint32_t)c;
        } else if (op == 'A') {
            for (long i = a; i < a + b; i++) {
                st->present[i] = 1;
                st->seed[i] = (uint32_t)c;
            }
            if (a + b > st->n)
                st->n = (int32_t)(a + b);
            pend_first = -1;
            st->acked_calls++;
        } else if (op == 'D') {
            st->present[a] = 0;
            pend_first = -1;
            st->acked_calls++;
        } else if (op == 'N') {
            pend_first = -1;
        }
    }
    fclose(f);
    for (int32_t i = 0; pend_first >= 0 && i < pend_count; i++)
        st->in_flight[pend_first + i] = 1;
    if (pend_first < 0)
        st->pend_op = 0;
}

/* One log line "<op> a b c\n" in one write(2), so a kill leaves it whole or torn. */
static inline void cl_log(int fd, char op, long a, long b, long c)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%c %ld %ld %ld\n", op, a, b, c);
    if (write(fd, line, (size_t)n) != n)
        _exit(3);
}

/* The child: writes until killed. Never returns. */
static inline void cl_child(const char *dir, const char *log, const char *spec, uint64_t rnd)
{
    cl_state *st = malloc(sizeof *st);
    cl_read_log(log, st);
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    cdx_contract *c = cdx_test_store_contract("fixture-clip", CL_DIM);
    cdx_store_params p = cdx_store_default_params();
    p.index_spec = spec;
    p.threads = 1;
    p.checkpoint_rows = 40;
    p.checkpoint_seconds = 0.02;
    cdx_store *s;
    cdx_errbuf eb = {0};
    if (cdx_store_open(dir, c, &p, &s, &eb) != CDX_OK) {
        fprintf(stderr, "crash child: open: %s\n", eb.msg);
        _exit(2);
    }
    enum { B = 16 };
    cdx_item items[B];
    char uris[B * 32];
    float v[B * CL_DIM];
    int32_t next = st->n;
    for (uint32_t round = 1;; round++) {
        uint32_t seed = (uint32_t)(cdx_test_rng(&rnd) & 0x7fffffff) | 1;
        int32_t kind = (int32_t)(cdx_test_rng(&rnd) % 10);
        if (kind < 6 || next < B) { /* new items */
            cl_log(fd, 'p', next, B, seed);
            cdx_test_items(items, uris, B, next);
            for (int i = 0; i < B; i++)
                cl_vector(next + i, seed, v + i * CL_DIM);
            if (cdx_store_put_batch(s, items, v, NULL, B, &eb) != CDX_OK)
                _exit(4);
            cl_log(fd, 'A', next, B, seed);
            next += B;
        } else if (kind < 9) { /* replace a run of existing items */
            int32_t first = (int32_t)(cdx_test_rng(&rnd) % (uint64_t)(next - B + 1));
            cl_log(fd, 'p', first, B, seed);
            cdx_test_items(items, uris, B, first);
            for (int i = 0; i < B; i++)
                cl_vector(first + i, seed, v + i * CL_DIM);
            if (cdx_store_put_batch(s, items, v, NULL, B, &eb) != CDX_OK)
                _exit(4);
            cl_log(fd, 'A', first, B, seed);
        } else { /* delete one, if it is there */
            int32_t it = (int32_t)(cdx_test_rng(&rnd) % (uint64_t)next);
            char uri[32];
            snprintf(uri, sizeof uri, "img/%d.jpg", it);
            cdx_item_state is;
            if (cdx_store_lookup_uri(s, uri, &is, &eb) != CDX_OK)
                _exit(5);
            if (is.found) {
                cl_log(fd, 'x', it, 0, 0);
                if (cdx_store_delete_item(s, is.id, &eb) != CDX_OK)
                    _exit(6);
                cl_log(fd, 'D', it, 0, 0);
            }
        }
        if (round % 7 == 0 && cdx_store_checkpoint(s, &eb) != CDX_OK)
            _exit(7);
    }
}

/* Reopens dir and checks it against the log; returns the number of acked calls. */
static inline int64_t cl_check(const char *dir, const char *log, const char *spec, int exact)
{
    cl_state *st = malloc(sizeof *st);
    cl_read_log(log, st);
    cdx_contract *c = cdx_test_store_contract("fixture-clip", CL_DIM);
    cdx_store_params p = cdx_store_default_params();
    p.index_spec = spec;
    p.threads = 1;
    cdx_store *s;
    cdx_errbuf eb = {0};
    if (cdx_store_open(dir, c, &p, &s, &eb) != CDX_OK)
        fail_msg("reopen after kill: %s", eb.msg);
    cdx_verify_report r;
    assert_int_equal(cdx_store_verify(s, &r, &eb), CDX_OK);
    if (!r.integrity_ok)
        fail_msg("integrity_check: %s", r.integrity);
    const cdx_verify_space *vs = &r.space[CDX_SPACE_IMAGE];
    if (vs->missing || vs->extra || vs->duplicates || vs->indexed != vs->catalog_rows)
        fail_msg("index vs catalog: %lld rows, %lld indexed, %lld missing, %lld extra, %lld duplicates",
                 (long long)vs->catalog_rows, (long long)vs->indexed, (long long)vs->missing, (long long)vs->extra,
                 (long long)vs->duplicates);
    float v[CL_DIM];
    int64_t ids[2];
    float sc[2];
    /* The call in flight at the kill either happened or not, as a whole (one
     * transaction): find out which, and write it into the log as if acked. */
    int lfd = open(log, O_WRONLY | O_APPEND);
    int landed = -1;
    for (int32_t i = 0; st->pend_op && i < CL_MAX_ITEMS; i++) {
        if (!st->in_flight[i])
            continue;
        char uri[32];
        snprintf(uri, sizeof uri, "img/%d.jpg", i);
        cdx_item_state is;
        assert_int_equal(cdx_store_lookup_uri(s, uri, &is, &eb), CDX_OK);
        int here;
        if (st->pend_op == 'x') {
            here = !is.found;
        } else {
            float got[CL_DIM];
            cl_vector(i, st->pend_seed, v);
            here = is.found && cdx_store_get_vector(s, is.id, CDX_SPACE_IMAGE, got, &eb) == CDX_OK &&
                   memcmp(got, v, sizeof v) == 0;
        }
        if (landed >= 0 && here != landed)
            fail_msg("%s: half of a batch landed: a transaction was torn", uri);
        landed = here;
        if (here) {
            cl_log(lfd, st->pend_op == 'x' ? 'D' : 'A', i, 1, (long)st->pend_seed);
            st->present[i] = st->pend_op != 'x';
            st->seed[i] = st->pend_seed;
            if (i >= st->n)
                st->n = i + 1;
        } else {
            cl_log(lfd, 'N', i, 0, 0); /* settles the intent: it did not happen */
        }
        st->in_flight[i] = 0;
    }
    close(lfd);
    for (int32_t i = 0; i < st->n; i++) {
        char uri[32];
        snprintf(uri, sizeof uri, "img/%d.jpg", i);
        cdx_item_state is;
        assert_int_equal(cdx_store_lookup_uri(s, uri, &is, &eb), CDX_OK);
        if (is.found != st->present[i])
            fail_msg("%s: acknowledged %s, catalog says %s", uri, st->present[i] ? "present" : "deleted",
                     is.found ? "present" : "absent");
        if (!is.found)
            continue;
        cl_vector(i, st->seed[i], v);
        float got[CL_DIM];
        assert_int_equal(cdx_store_get_vector(s, is.id, CDX_SPACE_IMAGE, got, &eb), CDX_OK);
        if (memcmp(got, v, sizeof v) != 0)
            fail_msg("%s: the catalog holds another vector than the last acknowledged one", uri);
        if (exact) { /* the exact index finds the acknowledged vector under its id */
            assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, v, 1, 1, 0, ids, sc, &eb), CDX_OK);
            if (ids[0] != is.id)
                fail_msg("%s: search for its vector found item %lld, not %lld", uri, (long long)ids[0],
                         (long long)is.id);
        }
    }
    int64_t calls = st->acked_calls;
    cdx_store_close(s);
    cdx_contract_close(c);
    free(st);
    return calls;
}

/* iterations kill/reopen rounds; returns acknowledged calls in total. */
static inline int64_t cl_run(const char *spec, int iterations, int exact, uint64_t seed)
{
    char *dir = cdx_test_mkdtemp("crash");
    char *data = cdx_test_fmt("%s/data", dir), *log = cdx_test_fmt("%s/acks.log", dir);
    uint64_t rnd = seed;
    int64_t calls = 0;
    for (int it = 0; it < iterations; it++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            cl_child(data, log, spec, rnd + (uint64_t)it * 7919);
        /* Kill anywhere from during open to well into the writing. */
        long ms = 5 + (long)(cdx_test_rng(&rnd) % 250);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("crash child exited by itself (status %d): a write failed", WEXITSTATUS(status));
        calls = cl_check(data, log, spec, exact);
    }
    cdx_test_rmtree(dir);
    free(dir);
    free(data);
    free(log);
    return calls;
}

#endif
