/* Experiment cards and their JSON form (see card.h). One field table drives
 * both the writer and the parser, so a name can never be spelt two ways;
 * the few array-valued fields (block statistics, histogram, providers) are
 * written and read next to it. */
#include "bench/card.h"

#include "common/util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cdx_bench_cards {
    cdx_bench_card *v;
    size_t n, cap;
};

enum ftype { F_STR, F_I32, F_U64, F_DBL, F_BOOL };

struct field {
    const char *name; /* "a.b" nests b under object a */
    enum ftype type;
    size_t off, size;
    int required;
};

#define FS(n, m, req) {n, F_STR, offsetof(cdx_bench_card, m), sizeof(((cdx_bench_card *)0)->m), req}
#define FI(n, m, req) {n, F_I32, offsetof(cdx_bench_card, m), 0, req}
#define FU(n, m, req) {n, F_U64, offsetof(cdx_bench_card, m), 0, req}
#define FD(n, m, req) {n, F_DBL, offsetof(cdx_bench_card, m), 0, req}
#define FB(n, m, req) {n, F_BOOL, offsetof(cdx_bench_card, m), 0, req}

static const struct field fields[] = {
    FS("clipdex", clipdex_version, 0),
    FS("git_revision", git_revision, 0),
    FS("onnxruntime", ort_version, 0),
    FS("contract.id", contract_id, 1),
    FS("contract.version", contract_version, 0),
    FS("contract.family", family, 0),
    FS("contract.variant", variant, 0),
    FI("contract.opset", opset, 0),
    FI("contract.ir_version", ir_version, 0),
    FS("contract.space_hash", space_hash, 0),
    FS("contract.artifact_sha256", artifact_sha256, 0),
    FS("tower", tower, 1),
    FS("providers.asked", base_providers, 0),
    FS("providers.spec", providers, 1),
    FS("providers.used", used, 0),
    FI("threads", threads, 1),
    FI("inter_threads", inter_threads, 0),
    FS("opt", opt, 1),
    FI("bucket.batch", batch, 1),
    FI("bucket.seq", seq, 1),
    FD("thresholds.max_fallback", thresholds.max_fallback, 0),
    FD("thresholds.min_speedup", thresholds.min_speedup, 0),
    FD("thresholds.max_cold_warm_ratio", thresholds.max_cold_warm_ratio, 0),
    FD("thresholds.max_drift", thresholds.max_drift, 0),
    FD("thresholds.min_int8_speedup", thresholds.min_int8_speedup, 0),
    FS("cpu.model", cpu_model, 0),
    FS("cpu.features", cpu_features, 0),
    FI("cpu.cores", cores, 0),
    FD("create_ms", create_ms, 0),
    FD("create_cached_ms", create_cached_ms, 0),
    FD("cold_ms", cold_ms, 1),
    FD("duration_s", duration_s, 0),
    FU("runs", runs, 1),
    FU("rows", rows, 0),
    FD("warm.min_ms", warm_min_ms, 0),
    FD("warm.mean_ms", warm_mean_ms, 0),
    FD("warm.p50_ms", warm_p50_ms, 1),
    FD("warm.p95_ms", warm_p95_ms, 1),
    FD("warm.p99_ms", warm_p99_ms, 0),
    FD("warm.max_ms", warm_max_ms, 0),
    FD("warm.noise_p50", noise_p50, 0),
    FD("warm.noise_p95", noise_p95, 0),
    FD("throughput", throughput, 0),
    FD("drift", drift, 0),
    FU("rss_peak_bytes", rss_peak_bytes, 0),
    FD("fallback.by_nodes", fallback_by_nodes, 0),
    FD("fallback.by_time", fallback_by_time, 0),
    FB("fallback.detected", fallback_detected, 0),
    FB("interrupted", interrupted, 0),
    FS("error", error, 0),
};

int cdx_bench_cards_new(cdx_bench_cards **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? CDX_OK : CDX_ERR_NOMEM;
}

void cdx_bench_cards_free(cdx_bench_cards *cs)
{
    if (!cs)
        return;
    free(cs->v);
    free(cs);
}

int cdx_bench_cards_add(cdx_bench_cards *cs, const cdx_bench_card *c)
{
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 16;
        cdx_bench_card *v = realloc(cs->v, cap * sizeof *v);
        if (!v)
            return CDX_ERR_NOMEM;
        cs->v = v;
        cs->cap = cap;
    }
    cs->v[cs->n++] = *c;
    return CDX_OK;
}

size_t cdx_bench_cards_count(const cdx_bench_cards *cs) { return cs ? cs->n : 0; }

const cdx_bench_card *cdx_bench_cards_get(const cdx_bench_cards *cs, size_t i) { return i < cs->n ? &cs->v[i] : NULL; }

int cdx_bench_cards_extend(cdx_bench_cards *dst, const cdx_bench_cards *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (cdx_bench_cards_add(dst, &src->v[i]) != CDX_OK)
            return CDX_ERR_NOMEM;
    return CDX_OK;
}

void cdx_bench_cards_override_thresholds(cdx_bench_cards *cs, const cdx_bench_thresholds *t)
{
    for (size_t i = 0; i < cs->n; i++) {
        cdx_bench_thresholds *d = &cs->v[i].thresholds;
        d->max_fallback = t->max_fallback >= 0 ? t->max_fallback : d->max_fallback;
        d->min_speedup = t->min_speedup >= 0 ? t->min_speedup : d->min_speedup;
        d->max_cold_warm_ratio = t->max_cold_warm_ratio >= 0 ? t->max_cold_warm_ratio : d->max_cold_warm_ratio;
        d->max_drift = t->max_drift >= 0 ? t->max_drift : d->max_drift;
        d->min_int8_speedup = t->min_int8_speedup > 0 ? t->min_int8_speedup : d->min_int8_speedup;
    }
}

size_t cdx_bench_card_key(const cdx_bench_card *c, int with_contract, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s%s%s/%s/b%d", with_contract ? c->contract_id : "", with_contract ? "/" : "",
                     c->tower, c->providers, c->batch);
    if (n >= 0 && c->seq && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "/s%d", c->seq);
    return n < 0 ? 0 : (size_t)n;
}

/* ---- writing ---------------------------------------------------------- */

/* The object a dotted name lives in, created on the way; *leaf gets the last part. */
static json_t *parent_for(json_t *root, const char *name, const char **leaf, int create)
{
    const char *dot = strchr(name, '.');
    if (!dot) {
        *leaf = name;
        return root;
    }
    char group[32];
    snprintf(group, sizeof group, "%.*s", (int)(dot - name), name);
    json_t *g = json_object_get(root, group);
    if (!g && create) {
        g = json_object();
        json_object_set_new(root, group, g);
    }
    *leaf = dot + 1;
    return json_is_object(g) ? g : NULL;
}

static json_t *doubles(const double *v, int32_t n)
{
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *card_json(const cdx_bench_card *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < CDX_ARRAY_LEN(fields); i++) {
        const struct field *f = &fields[i];
        const char *p = (const char *)c + f->off, *leaf;
        json_t *v = NULL;
        switch (f->type) {
        case F_STR:
            if (!*p && !f->required)
                continue; /* empty optional strings (error) are left out */
            v = json_string(p);
            break;
        case F_I32: v = json_integer(*(const int32_t *)(const void *)p); break;
        case F_U64: v = json_integer((json_int_t) * (const uint64_t *)(const void *)p); break;
        case F_DBL: v = json_real(*(const double *)(const void *)p); break;
        case F_BOOL: v = json_boolean(*(const int32_t *)(const void *)p); break;
        }
        json_t *parent = parent_for(o, f->name, &leaf, 1); /* sets leaf: not in the same call */
        json_object_set_new(parent, leaf, v);
    }
    json_t *warm = json_object_get(o, "warm");
    json_object_set_new(warm, "block_p50_ms", doubles(c->block_p50_ms, c->n_blocks));
    json_object_set_new(warm, "block_p95_ms", doubles(c->block_p95_ms, c->n_blocks));
    json_t *bins = json_array();
    for (int32_t i = 0; i < c->hist.n_bins; i++)
        json_array_append_new(bins, json_integer(c->hist.bins[i]));
    json_object_set_new(warm, "histogram",
                        json_pack("{s:f, s:f, s:o}", "lo_ms", c->hist.lo_ms, "hi_ms", c->hist.hi_ms, "bins", bins));
    json_t *eps = json_array();
    for (int32_t i = 0; i < c->n_eps; i++)
        json_array_append_new(eps, json_pack("{s:s, s:i, s:i, s:f}", "provider", c->eps[i].provider, "nodes",
                                             c->eps[i].nodes, "partitions", c->eps[i].partitions, "time_share",
                                             c->eps[i].time_share));
    json_object_set_new(json_object_get(o, "fallback"), "providers", eps);
    return o;
}

char *cdx_bench_cards_to_json(const cdx_bench_cards *cs, const char *extra_json)
{
    json_t *root = json_pack("{s:s}", "schema", CDX_BENCH_SCHEMA);
    if (extra_json) {
        json_t *extra = json_loads(extra_json, 0, NULL);
        if (json_is_object(extra))
            json_object_update(root, extra);
        json_decref(extra);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < cs->n; i++)
        json_array_append_new(arr, card_json(&cs->v[i]));
    json_object_set_new(root, "cards", arr);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(root);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2); /* end with a newline, as text files do */
    if (!nl)
        return text;
    memcpy(nl + n, "\n", 2);
    return nl;
}

int cdx_bench_write_text(const char *path, const char *text, cdx_errbuf *eb)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return cdx_errbuf_set(eb, CDX_ERR_IO, "write %s: %s", tmp, strerror(errno));
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int rc = cdx_errbuf_set(eb, CDX_ERR_IO, "write %s: %s", path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return CDX_OK;
}

int cdx_bench_cards_save(const cdx_bench_cards *cs, const char *extra_json, const char *path, cdx_errbuf *eb)
{
    char *text = cdx_bench_cards_to_json(cs, extra_json);
    if (!text)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "cards: out of memory");
    int rc = cdx_bench_write_text(path, text, eb);
    free(text);
    return rc;
}

/* ---- parsing ---------------------------------------------------------- */

static int read_doubles(json_t *a, double *out, int32_t cap, int32_t *n)
{
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > (size_t)cap)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_number(v))
            return -1;
        out[i] = json_number_value(v);
    }
    *n = (int32_t)json_array_size(a);
    return 0;
}

static int parse_card(json_t *o, cdx_bench_card *c, const char *name, size_t idx, cdx_errbuf *eb)
{
    memset(c, 0, sizeof *c);
    c->create_cached_ms = -1;
    if (!json_is_object(o))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: card %zu is not an object", name, idx);
    for (size_t i = 0; i < CDX_ARRAY_LEN(fields); i++) {
        const struct field *f = &fields[i];
        const char *leaf;
        json_t *parent = parent_for(o, f->name, &leaf, 0);
        json_t *v = parent ? json_object_get(parent, leaf) : NULL;
        char *p = (char *)c + f->off;
        if (!v) {
            if (f->required)
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: card %zu: missing field %s", name, idx, f->name);
            continue;
        }
        int ok = 1;
        switch (f->type) {
        case F_STR:
            ok = json_is_string(v) && json_string_length(v) < f->size;
            if (ok)
                memcpy(p, json_string_value(v), json_string_length(v) + 1);
            break;
        case F_I32:
            ok = json_is_integer(v) && json_integer_value(v) >= INT32_MIN && json_integer_value(v) <= INT32_MAX;
            if (ok)
                *(int32_t *)(void *)p = (int32_t)json_integer_value(v);
            break;
        case F_U64:
            ok = json_is_integer(v) && json_integer_value(v) >= 0;
            if (ok)
                *(uint64_t *)(void *)p = (uint64_t)json_integer_value(v);
            break;
        case F_DBL:
            ok = json_is_number(v);
            if (ok)
                *(double *)(void *)p = json_number_value(v);
            break;
        case F_BOOL:
            ok = json_is_boolean(v);
            if (ok)
                *(int32_t *)(void *)p = json_is_true(v);
            break;
        }
        if (!ok)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: card %zu: field %s has the wrong type or is too long", name,
                                  idx, f->name);
    }
    if (c->batch < 1 || c->seq < 0 || c->threads < 0)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: card %zu: bucket batch %d seq %d threads %d out of range", name,
                              idx, c->batch, c->seq, c->threads);
    json_t *warm = json_object_get(o, "warm");
    int32_t n50 = 0, n95 = 0;
    if (read_doubles(json_object_get(warm, "block_p50_ms"), c->block_p50_ms, CDX_BENCH_MAX_BLOCKS, &n50) != 0 ||
        read_doubles(json_object_get(warm, "block_p95_ms"), c->block_p95_ms, CDX_BENCH_MAX_BLOCKS, &n95) != 0 ||
        n50 != n95)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: card %zu: warm.block_p50_ms / block_p95_ms must be arrays of "
                              "at most %d numbers, of equal length", name, idx, CDX_BENCH_MAX_BLOCKS);
    c->n_blocks = n50;
    json_t *h = json_object_get(warm, "histogram");
    if (h) {
        json_t *bins = json_object_get(h, "bins");
        if (!json_is_number(json_object_get(h, "lo_ms")) || !json_is_number(json_object_get(h, "hi_ms")) ||
            !json_is_array(bins) || json_array_size(bins) > CDX_BENCH_HIST_BINS)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: card %zu: warm.histogram needs lo_ms, hi_ms and at most %d bins",
                                  name, idx, CDX_BENCH_HIST_BINS);
        c->hist.lo_ms = json_number_value(json_object_get(h, "lo_ms"));
        c->hist.hi_ms = json_number_value(json_object_get(h, "hi_ms"));
        size_t i;
        json_t *v;
        json_array_foreach(bins, i, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: card %zu: histogram bin %zu is not a count", name, idx, i);
            c->hist.bins[i] = (uint32_t)json_integer_value(v);
        }
        c->hist.n_bins = (int32_t)json_array_size(bins);
    }
    json_t *eps = json_object_get(json_object_get(o, "fallback"), "providers");
    if (eps) {
        if (!json_is_array(eps) || json_array_size(eps) > CDX_BENCH_MAX_EPS)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: card %zu: fallback.providers: at most %d entries", name, idx,
                                  CDX_BENCH_MAX_EPS);
        size_t i;
        json_t *e;
        json_array_foreach(eps, i, e)
        {
            cdx_bench_ep *ep = &c->eps[i];
            json_t *pv = json_object_get(e, "provider");
            if (!json_is_string(pv) || json_string_length(pv) >= sizeof ep->provider)
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: card %zu: fallback.providers[%zu].provider", name, idx, i);
            memcpy(ep->provider, json_string_value(pv), json_string_length(pv) + 1);
            json_t *nodes = json_object_get(e, "nodes"), *parts = json_object_get(e, "partitions");
            ep->nodes = json_is_integer(nodes) ? (int32_t)json_integer_value(nodes) : 0;
            ep->partitions = json_is_integer(parts) ? (int32_t)json_integer_value(parts) : 0;
            ep->time_share = json_number_value(json_object_get(e, "time_share"));
        }
        c->n_eps = (int32_t)json_array_size(eps);
    }
    return CDX_OK;
}

int cdx_bench_cards_parse(const char *json, size_t len, const char *name, cdx_bench_cards **out, cdx_errbuf *eb)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: not JSON: %s (line %d)", name, jerr.text, jerr.line);
    cdx_bench_cards *cs = NULL;
    int rc = CDX_OK;
    const char *schema = json_string_value(json_object_get(root, "schema"));
    json_t *cards = json_object_get(root, "cards");
    if (!schema || strcmp(schema, CDX_BENCH_SCHEMA) != 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: schema is %s, expected %s (a file from clipdex bench --json)", name,
                            schema ? schema : "missing", CDX_BENCH_SCHEMA);
        goto done;
    }
    if (!json_is_array(cards)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: \"cards\" must be an array", name);
        goto done;
    }
    if ((rc = cdx_bench_cards_new(&cs)) != CDX_OK) {
        rc = cdx_errbuf_set(eb, rc, "%s: out of memory", name);
        goto done;
    }
    size_t i;
    json_t *o;
    json_array_foreach(cards, i, o)
    {
        cdx_bench_card c;
        if ((rc = parse_card(o, &c, name, i, eb)) != CDX_OK)
            goto done;
        if ((rc = cdx_bench_cards_add(cs, &c)) != CDX_OK) {
            rc = cdx_errbuf_set(eb, rc, "%s: out of memory", name);
            goto done;
        }
    }
done:
    json_decref(root);
    if (rc != CDX_OK)
        cdx_bench_cards_free(cs);
    else
        *out = cs;
    return rc;
}

int cdx_bench_cards_load(const char *path, cdx_bench_cards **out, cdx_errbuf *eb)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO, "%s: %s (a card file from clipdex "
                              "bench --json)", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = CDX_OK;
    for (;;) {
        if (len == cap) {
            if (cap >= (256u << 20)) {
                rc = cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "%s: over 256 MiB, not a card file", path);
                break;
            }
            char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!nb) {
                rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = cdx_errbuf_set(eb, CDX_ERR_IO, "read %s: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc == CDX_OK)
        rc = cdx_bench_cards_parse(buf, len, path, out, eb);
    free(buf);
    return rc;
}
