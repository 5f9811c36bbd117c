/* Placement report (see placement.h). The profile is parsed with jansson; a
 * node event is {"cat":"Node","name":"<node>_kernel_time","dur":us,"ts":us,
 * "args":{"provider":"...","op_name":"..."}}, and each Run is bracketed by a
 * {"cat":"Session","name":"model_run"} event. */
#include "encoder/placement.h"

#include "common/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cdx_placement_init(cdx_placement_report *r) { memset(r, 0, sizeof *r); }

static cdx_ep_share *ep_get(cdx_placement_report *r, const char *provider)
{
    for (int i = 0; i < r->n_eps; i++)
        if (strcmp(r->eps[i].provider, provider) == 0)
            return &r->eps[i];
    if (r->n_eps == CDX_PLACEMENT_MAX_EPS)
        return NULL;
    cdx_ep_share *e = &r->eps[r->n_eps++];
    memset(e, 0, sizeof *e);
    snprintf(e->provider, sizeof e->provider, "%s", provider);
    return e;
}

/* "<EP>::GetCapability, number of partitions supported by X: P number of nodes
 * in the graph: G number of nodes supported by X: S" */
static int feed_capability(cdx_placement_report *r, const char *message)
{
    const char *cap = strstr(message, "::GetCapability");
    const char *pp = strstr(message, "number of partitions supported by");
    const char *gp = strstr(message, "number of nodes in the graph:");
    const char *sp = strstr(message, "number of nodes supported by");
    if (!cap || !pp || !gp || !sp)
        return 0;
    const char *start = cap;
    while (start > message && start[-1] != ' ' && start[-1] != ']')
        start--;
    char name[48];
    if ((size_t)(cap - start) >= sizeof name || cap == start)
        return 0;
    memcpy(name, start, (size_t)(cap - start));
    name[cap - start] = '\0';
    const char *pc = strchr(pp, ':'), *sc = strchr(sp, ':');
    if (!pc || !sc)
        return 0;
    cdx_ep_share *e = ep_get(r, name);
    if (!e)
        return 0;
    e->partitions = atoi(pc + 1);
    e->nodes = atoi(sc + 1);
    e->from_capability = 1;
    r->graph_nodes = atoi(gp + strlen("number of nodes in the graph:"));
    return 1;
}

int cdx_placement_feed_log(cdx_placement_report *r, const char *message)
{
    if (feed_capability(r, message))
        return 1;
    static const char *const heads[] = {"Node(s) placed on [", "All nodes placed on ["};
    for (size_t h = 0; h < CDX_ARRAY_LEN(heads); h++) {
        const char *p = strstr(message, heads[h]);
        if (!p)
            continue;
        p += strlen(heads[h]);
        const char *close = strchr(p, ']');
        const char *num = close ? strstr(close, "Number of nodes:") : NULL;
        if (!close || !num || (size_t)(close - p) >= sizeof r->eps[0].provider)
            return 0;
        char name[48];
        memcpy(name, p, (size_t)(close - p));
        name[close - p] = '\0';
        cdx_ep_share *e = ep_get(r, name);
        if (!e)
            return 0;
        if (!e->from_capability) /* a compiled provider's fused count says less */
            e->nodes = atoi(num + strlen("Number of nodes:"));
        r->nodes_from_log = 1;
        return 1;
    }
    return 0;
}

struct node_event {
    int64_t ts, dur;
    const char *provider;
    const char *name;
};

static int by_ts(const void *a, const void *b)
{
    const struct node_event *x = a, *y = b;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

/* Distinct node names per provider, for when the log gave no counts. */
static void count_profiled_nodes(cdx_placement_report *r, struct node_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(ev[j].name, ev[i].name) == 0 && strcmp(ev[j].provider, ev[i].provider) == 0;
        cdx_ep_share *e = seen ? NULL : ep_get(r, ev[i].provider);
        if (e)
            e->nodes++;
    }
}

int cdx_placement_feed_profile(cdx_placement_report *r, const char *json, size_t len, cdx_errbuf *eb)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root || !json_is_array(root)) {
        json_decref(root);
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "ORT profile: not a JSON array (%s at line %d)",
                              root ? "wrong type" : jerr.text, jerr.line);
    }
    size_t n = json_array_size(root), n_nodes = 0;
    struct node_event *ev = calloc(n ? n : 1, sizeof *ev);
    int64_t run_start = -1, run_end = -1;
    if (!ev) {
        json_decref(root);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ORT profile: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(root, i);
        const char *cat = json_string_value(json_object_get(e, "cat"));
        const char *name = json_string_value(json_object_get(e, "name"));
        json_int_t ts = json_integer_value(json_object_get(e, "ts"));
        json_int_t dur = json_integer_value(json_object_get(e, "dur"));
        if (!cat || !name)
            continue;
        if (strcmp(cat, "Session") == 0 && strcmp(name, "model_run") == 0) {
            r->profiled_runs++;
            if (run_start < 0 || ts < run_start) {
                run_start = ts;
                run_end = ts + dur;
            }
            continue;
        }
        size_t nl = strlen(name), sl = strlen("_kernel_time");
        if (strcmp(cat, "Node") != 0 || nl <= sl || strcmp(name + nl - sl, "_kernel_time") != 0)
            continue;
        const char *prov = json_string_value(json_object_get(json_object_get(e, "args"), "provider"));
        if (!prov)
            continue;
        ev[n_nodes++] = (struct node_event){ts, dur, prov, name};
        cdx_ep_share *s = ep_get(r, prov);
        if (s)
            s->time_us += dur;
    }
    if (!r->nodes_from_log)
        count_profiled_nodes(r, ev, n_nodes);
    /* Partitions: runs of consecutive nodes on one provider in the first run. */
    qsort(ev, n_nodes, sizeof *ev, by_ts);
    const char *prev = NULL;
    for (size_t i = 0; i < n_nodes; i++) {
        if (run_start >= 0 && (ev[i].ts < run_start || ev[i].ts > run_end))
            continue;
        if (!prev || strcmp(prev, ev[i].provider) != 0) {
            cdx_ep_share *s = ep_get(r, ev[i].provider);
            if (s && !s->from_capability)
                s->partitions++;
        }
        prev = ev[i].provider;
    }
    free(ev);
    json_decref(root);
    return CDX_OK;
}

void cdx_placement_finish(cdx_placement_report *r, const char *primary_ort_name)
{
    snprintf(r->primary, sizeof r->primary, "%s", primary_ort_name ? primary_ort_name : "");
    r->total_nodes = 0;
    r->total_time_us = 0;
    for (int i = 0; i < r->n_eps; i++) {
        r->total_nodes += r->eps[i].nodes;
        r->total_time_us += r->eps[i].time_us;
    }
    r->fallback_by_nodes = r->fallback_by_time = 0;
    const cdx_ep_share *primary = NULL;
    for (int i = 0; i < r->n_eps; i++)
        if (strcmp(r->eps[i].provider, r->primary) == 0)
            primary = &r->eps[i];
    for (int i = 0; i < r->n_eps; i++) {
        cdx_ep_share *e = &r->eps[i];
        e->time_share = r->total_time_us ? (double)e->time_us / (double)r->total_time_us : 0;
        if (strcmp(e->provider, "CPUExecutionProvider") == 0 && strcmp(r->primary, e->provider) != 0) {
            r->fallback_by_nodes = r->total_nodes ? (double)e->nodes / r->total_nodes : 0;
            r->fallback_by_time = e->time_share;
        }
    }
    /* A compiling provider's own summary counts the original graph: what it
     * did not take ran elsewhere. */
    if (primary && primary->from_capability && r->graph_nodes > 0 && strcmp(r->primary, "CPUExecutionProvider") != 0)
        r->fallback_by_nodes = (double)(r->graph_nodes - primary->nodes) / r->graph_nodes;
}

size_t cdx_placement_format(const cdx_placement_report *r, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap)
        buf[0] = '\0';
    for (int i = 0; i < r->n_eps && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s nodes=%d partitions=%d time=%.1f%%", i ? "; " : "",
                              r->eps[i].provider, r->eps[i].nodes, r->eps[i].partitions,
                              100.0 * r->eps[i].time_share);
    return n < cap ? n : (cap ? cap - 1 : 0);
}
