/* /v1/search, /v1/rerank and /v1/embed: the query path. Each runs on a
 * worker of its lane: parse (request.c), encode through the encoder gate
 * (interactive for search and rerank, batch in chunks for embed), search the
 * index, fetch the items, answer in JSON or protobuf with the timings of
 * each stage. */
#include "server/internal.h"

#include "common/arena.h"
#include "common/clock.h"
#include "common/util.h"
#include "contracts/clipdex.pb-c.h"
#include "encoder/encoder.h"
#include "index/store.h"
#include "server/request.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct qctx {
    cdx_job *job;
    cdx_server *s;
    cdx_arena *a;
    const cdx_contract_spec *spec;
    cdx_request_limits lim;
    cdx_errbuf eb;
} qctx;

/* Common start: the model and index are there, an arena for the request. */
static int qctx_begin(qctx *q, cdx_job *job, int need_store)
{
    memset(q, 0, sizeof *q);
    q->job = job;
    q->s = job->srv;
    if (!q->s->enc || (need_store && !q->s->has_catalog)) {
        cdx_job_error(job, 503, "not_ready", "the server has no %s loaded; see /readyz", q->s->enc ? "index" : "model");
        job->retry_after_s = 5;
        return -1;
    }
    if (cdx_arena_init(0, &q->a) != CDX_OK) {
        cdx_job_error(job, 500, "internal", "out of memory");
        return -1;
    }
    q->spec = cdx_encoder_spec(q->s->enc);
    q->lim = cdx_request_default_limits();
    q->lim.dim = q->spec->dim;
    q->lim.k_max = q->s->p.k_max;
    q->lim.max_inputs = q->s->p.max_inputs;
    q->lim.max_image_bytes = q->s->p.max_body_bytes;
    return 0;
}

static void qctx_end(qctx *q) { cdx_arena_free(q->a); }

static void parse_error(cdx_job *job, int rc, const char *reason, const cdx_errbuf *eb)
{
    int status = rc == CDX_ERR_TOOBIG ? 413 : rc == CDX_ERR_NOMEM ? 500 : 400;
    cdx_job_error(job, status, reason ? reason : "invalid_request", "%s", cdx_errbuf_msg(eb));
}

/* Encoder failures: a bad image is the client's (422), the rest are ours. */
static void encode_error(cdx_job *job, int rc, const cdx_errbuf *eb)
{
    if (rc == CDX_ERR_DECODE || rc == CDX_ERR_TOOBIG || rc == CDX_ERR_UNSUPPORTED)
        cdx_job_error(job, rc == CDX_ERR_TOOBIG ? 413 : 422, "image_decode_failed", "%s", cdx_errbuf_msg(eb));
    else if (rc == CDX_ERR_INVAL || rc == CDX_ERR_PARSE)
        cdx_job_error(job, 400, "invalid_input", "%s", cdx_errbuf_msg(eb));
    else
        cdx_job_error(job, 500, "encoder_failed", "%s", cdx_errbuf_msg(eb));
}

/* Texts through the gate, chunk rows at a time (the preemption grain). */
static int embed_texts(qctx *q, enum cdx_gate_class cls, const char *const *texts, const size_t *lens, int32_t n,
                       float *out, int32_t chunk)
{
    for (int32_t i = 0; i < n; i += chunk) {
        int32_t m = CDX_MIN(chunk, n - i);
        cdx_server_encoder_enter(q->s, cls);
        int64_t t0 = cdx_clock_ns();
        int rc = cdx_encoder_embed_texts(q->s->enc, texts + i, lens + i, m, out + (size_t)i * q->spec->dim, &q->eb);
        q->job->encode_ns += cdx_clock_ns() - t0;
        cdx_server_encoder_leave(q->s, cls);
        if (rc != CDX_OK)
            return rc;
    }
    return CDX_OK;
}

/* Images: decoded and preprocessed outside the gate (the request's own
 * thread, so libvips work never holds the encoder), then the tower through
 * the gate on up to chunk tensors at a time (the preemption grain). images[i]
 * of lens[i] bytes; names[i] labels errors (NULL: "images[i]"). */
static int embed_images(qctx *q, enum cdx_gate_class cls, const uint8_t *const *images, const size_t *lens,
                        const char *const *names, int32_t n, float *out, int32_t chunk)
{
    const cdx_preprocess *pp = cdx_encoder_preprocess(q->s->enc);
    size_t floats = cdx_preprocess_tensor_floats(pp);
    float *tensors = cdx_arena_alloc(q->a, (size_t)CDX_MIN(chunk, n) * floats * sizeof *tensors);
    if (n > 0 && !tensors)
        return cdx_errbuf_set(&q->eb, CDX_ERR_NOMEM, "out of memory for %d image tensors", CDX_MIN(chunk, n));
    for (int32_t i = 0; i < n; i += chunk) {
        int32_t m = CDX_MIN(chunk, n - i);
        int64_t t0 = cdx_clock_ns();
        for (int32_t j = 0; j < m; j++) {
            char name[32];
            snprintf(name, sizeof name, "images[%d]", i + j);
            int rc = cdx_preprocess_buffer(pp, images[i + j], lens[i + j], names ? names[i + j] : name,
                                           tensors + (size_t)j * floats, floats, NULL, &q->eb);
            if (rc != CDX_OK)
                return rc;
        }
        q->job->encode_ns += cdx_clock_ns() - t0;
        cdx_server_encoder_enter(q->s, cls);
        t0 = cdx_clock_ns();
        int rc = cdx_encoder_embed_pixels(q->s->enc, tensors, m, out + (size_t)i * q->spec->dim, &q->eb);
        q->job->encode_ns += cdx_clock_ns() - t0;
        cdx_server_encoder_leave(q->s, cls);
        if (rc != CDX_OK)
            return rc;
    }
    return CDX_OK;
}

static int embed_image(qctx *q, enum cdx_gate_class cls, const uint8_t *data, size_t len, const char *name, float *out)
{
    return embed_images(q, cls, &data, &len, &name, 1, out, 1);
}

/* The query as a vector; answers the job itself on failure. */
static int query_vector(qctx *q, const cdx_query *query, float *out)
{
    int rc = CDX_OK;
    switch (query->kind) {
    case CDX_QUERY_TEXT:
        rc = embed_texts(q, CDX_GATE_INTERACTIVE, &query->text, &query->text_len, 1, out, 1);
        break;
    case CDX_QUERY_IMAGE:
        rc = embed_image(q, CDX_GATE_INTERACTIVE, query->image, query->image_len, "query image", out);
        break;
    case CDX_QUERY_VECTOR:
        memcpy(out, query->vector, (size_t)q->spec->dim * sizeof *out);
        return CDX_OK;
    case CDX_QUERY_ITEM: {
        int64_t t0 = cdx_clock_ns();
        rc = q->s->cat.get_vector(q->s->cat.ctx, query->item_id, CDX_SPACE_IMAGE, out, &q->eb);
        q->job->fetch_ns += cdx_clock_ns() - t0;
        if (rc == CDX_ERR_NOTFOUND) {
            cdx_job_error(q->job, 404, "unknown_item", "item_id %lld: no such item with an image vector",
                          (long long)query->item_id);
            return rc;
        }
        if (rc != CDX_OK)
            cdx_job_error(q->job, 500, "store_failed", "%s", cdx_errbuf_msg(&q->eb));
        return rc;
    }
    default:
        rc = CDX_ERR_INVAL;
        cdx_errbuf_set(&q->eb, rc, "no query");
    }
    if (rc != CDX_OK)
        encode_error(q->job, rc, &q->eb);
    return rc;
}

static json_t *timings_json(const cdx_job *job)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f}", "queue", cdx_ns_to_ms(job->queued_ns), "encode",
                     cdx_ns_to_ms(job->encode_ns), "search", cdx_ns_to_ms(job->search_ns), "fetch",
                     cdx_ns_to_ms(job->fetch_ns), "total", cdx_ns_to_ms(cdx_clock_ns() - job->t_arrive_ns));
}

static void timings_pb(const cdx_job *job, Clipdex__V1__Timings *t)
{
    clipdex__v1__timings__init(t);
    t->has_queue_ms = t->has_encode_ms = t->has_search_ms = t->has_fetch_ms = t->has_total_ms = 1;
    t->queue_ms = cdx_ns_to_ms(job->queued_ns);
    t->encode_ms = cdx_ns_to_ms(job->encode_ns);
    t->search_ms = cdx_ns_to_ms(job->search_ns);
    t->fetch_ms = cdx_ns_to_ms(job->fetch_ns);
    t->total_ms = cdx_ns_to_ms(cdx_clock_ns() - job->t_arrive_ns);
}

static void reply_pb(cdx_job *job, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        cdx_job_error(job, 500, "internal", "out of memory");
        return;
    }
    protobuf_c_message_pack(m, buf);
    cdx_job_reply(job, 200, "application/x-protobuf", (char *)buf, n);
}

/* ---- search -------------------------------------------------------------- */

typedef struct hit {
    cdx_item_row row;
    float score;
} hit;

/* Searches, then fetches rows and applies the filter; with a filter it asks
 * the index for more candidates until k pass or the index has no more. */
static int search_and_fetch(qctx *q, const cdx_search_request *r, const float *vec, hit *hits, int32_t *n_hits)
{
    int64_t exclude = r->query.kind == CDX_QUERY_ITEM ? r->query.item_id : -1;
    int32_t want = r->k + (exclude > 0);
    int32_t fetch_k = r->n_conds ? CDX_MIN(CDX_MAX(want * 8, 64), 16384) : want;
    *n_hits = 0;
    for (;;) {
        int64_t *ids = cdx_arena_alloc(q->a, (size_t)fetch_k * sizeof *ids);
        float *scores = cdx_arena_alloc(q->a, (size_t)fetch_k * sizeof *scores);
        if (!ids || !scores)
            return cdx_errbuf_set(&q->eb, CDX_ERR_NOMEM, "out of memory");
        int64_t t0 = cdx_clock_ns();
        int rc = q->s->cat.search(q->s->cat.ctx, (enum cdx_space)r->space, vec, fetch_k, ids, scores, &q->eb);
        q->job->search_ns += cdx_clock_ns() - t0;
        if (rc != CDX_OK)
            return rc;
        t0 = cdx_clock_ns();
        int32_t got = 0, exhausted = 0;
        for (int32_t i = 0; i < fetch_k && *n_hits < r->k; i++) {
            if (ids[i] < 0) {
                exhausted = 1;
                break;
            }
            got++;
            if (ids[i] == exclude)
                continue;
            /* Rows already taken in an earlier, smaller round are skipped. */
            int seen = 0;
            for (int32_t h = 0; h < *n_hits && !seen; h++)
                seen = hits[h].row.id == ids[i];
            if (seen)
                continue;
            cdx_item_row row;
            rc = q->s->cat.get_item(q->s->cat.ctx, ids[i], &row, &q->eb);
            if (rc == CDX_ERR_NOTFOUND)
                continue; /* deleted between search and fetch */
            if (rc != CDX_OK) {
                q->job->fetch_ns += cdx_clock_ns() - t0;
                return rc;
            }
            if (!cdx_filter_match(r->conds, r->n_conds, row.meta_json)) {
                q->s->cat.clear_row(&row);
                continue;
            }
            hits[(*n_hits)++] = (hit){row, scores[i]};
        }
        q->job->fetch_ns += cdx_clock_ns() - t0;
        if (*n_hits >= r->k || exhausted || got < fetch_k || fetch_k >= 16384 || !r->n_conds)
            return CDX_OK;
        fetch_k = CDX_MIN(fetch_k * 4, 16384);
    }
}

static json_t *meta_value(const char *meta_json)
{
    json_t *m = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    return m ? m : json_null();
}

void cdx_route_search(cdx_job *job)
{
    qctx q;
    if (qctx_begin(&q, job, 1) != 0)
        return;
    cdx_search_request r;
    const char *reason = NULL;
    hit *hits = NULL;
    int32_t n_hits = 0;
    int rc = cdx_request_parse_search(job->body, job->body_len, job->body_pb, &q.lim, q.a, &r, &reason, &q.eb);
    if (rc != CDX_OK) {
        parse_error(job, rc, reason, &q.eb);
        goto done;
    }
    float *vec = cdx_arena_alloc(q.a, (size_t)q.spec->dim * sizeof *vec);
    hits = calloc((size_t)r.k, sizeof *hits);
    if (!vec || !hits) {
        cdx_job_error(job, 500, "internal", "out of memory");
        goto done;
    }
    if (query_vector(&q, &r.query, vec) != CDX_OK)
        goto done;
    if ((rc = search_and_fetch(&q, &r, vec, hits, &n_hits)) != CDX_OK) {
        cdx_job_error(job, 500, "search_failed", "%s", cdx_errbuf_msg(&q.eb));
        goto done;
    }
    if (job->answer_pb) {
        Clipdex__V1__SearchResponse resp = CLIPDEX__V1__SEARCH_RESPONSE__INIT;
        Clipdex__V1__Timings t;
        Clipdex__V1__SearchHit *ph = calloc((size_t)n_hits + 1, sizeof *ph);
        Clipdex__V1__SearchHit **pp = calloc((size_t)n_hits + 1, sizeof *pp);
        if (!ph || !pp) {
            free(ph);
            free(pp);
            cdx_job_error(job, 500, "internal", "out of memory");
            goto done;
        }
        for (int32_t i = 0; i < n_hits; i++) {
            clipdex__v1__search_hit__init(&ph[i]);
            ph[i].id = hits[i].row.id;
            ph[i].score = hits[i].score;
            ph[i].uri = hits[i].row.uri;
            ph[i].caption = hits[i].row.caption;
            ph[i].metadata_json = hits[i].row.meta_json;
            pp[i] = &ph[i];
        }
        timings_pb(job, &t);
        resp.n_results = (size_t)n_hits;
        resp.results = pp;
        resp.timings = &t;
        reply_pb(job, &resp.base);
        free(ph);
        free(pp);
        goto done;
    }
    json_t *results = json_array();
    for (int32_t i = 0; i < n_hits; i++)
        json_array_append_new(results,
                              json_pack("{s:I, s:s, s:f, s:s?, s:o}", "id", (json_int_t)hits[i].row.id, "uri",
                                        hits[i].row.uri ? hits[i].row.uri : "", "score", (double)hits[i].score,
                                        "caption", hits[i].row.caption, "metadata", meta_value(hits[i].row.meta_json)));
    cdx_job_json(job, 200, json_pack("{s:o, s:i, s:o}", "results", results, "k", r.k, "timings_ms", timings_json(job)));
done:
    for (int32_t i = 0; i < n_hits; i++)
        q.s->cat.clear_row(&hits[i].row);
    free(hits);
    qctx_end(&q);
}

/* ---- rerank -------------------------------------------------------------- */

typedef struct ranked {
    int32_t index;
    float cosine;
    double prob;
} ranked;

static int by_cosine_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return x->cosine < y->cosine ? 1 : x->cosine > y->cosine ? -1 : x->index - y->index;
}

/* Vectors for the candidates; answers the job itself on failure. */
static int candidate_vectors(qctx *q, const cdx_rerank_request *r, float *out)
{
    int32_t dim = q->spec->dim;
    int rc = CDX_OK;
    if (r->candidates[0].kind == CDX_INPUT_TEXT) {
        const char **texts = cdx_arena_alloc(q->a, (size_t)r->n * sizeof *texts);
        size_t *lens = cdx_arena_alloc(q->a, (size_t)r->n * sizeof *lens);
        if (!texts || !lens)
            return cdx_job_error(q->job, 500, "internal", "out of memory"), CDX_ERR_NOMEM;
        for (int32_t i = 0; i < r->n; i++)
            texts[i] = r->candidates[i].text, lens[i] = r->candidates[i].text_len;
        rc = embed_texts(q, CDX_GATE_INTERACTIVE, texts, lens, r->n, out, q->s->p.batch_chunk);
    }
    for (int32_t i = 0; rc == CDX_OK && i < r->n && r->candidates[0].kind != CDX_INPUT_TEXT; i++) {
        const cdx_input *c = &r->candidates[i];
        if (c->kind == CDX_INPUT_IMAGE) {
            char name[48];
            snprintf(name, sizeof name, "candidates.images[%d]", i);
            rc = embed_image(q, CDX_GATE_INTERACTIVE, c->image, c->image_len, name, out + (size_t)i * dim);
            continue;
        }
        int64_t t0 = cdx_clock_ns();
        rc = q->s->cat.get_vector(q->s->cat.ctx, c->id, CDX_SPACE_IMAGE, out + (size_t)i * dim, &q->eb);
        q->job->fetch_ns += cdx_clock_ns() - t0;
        if (rc == CDX_ERR_NOTFOUND) {
            cdx_job_error(q->job, 404, "unknown_item", "candidates.ids[%d]: item %lld has no image vector", i,
                          (long long)c->id);
            return rc;
        }
        if (rc != CDX_OK) {
            cdx_job_error(q->job, 500, "store_failed", "%s", cdx_errbuf_msg(&q->eb));
            return rc;
        }
    }
    if (rc != CDX_OK)
        encode_error(q->job, rc, &q->eb);
    return rc;
}

void cdx_route_rerank(cdx_job *job)
{
    qctx q;
    if (qctx_begin(&q, job, 1) != 0)
        return;
    cdx_rerank_request r;
    const char *reason = NULL;
    int rc = cdx_request_parse_rerank(job->body, job->body_len, job->body_pb, &q.lim, q.a, &r, &reason, &q.eb);
    if (rc != CDX_OK) {
        parse_error(job, rc, reason, &q.eb);
        goto done;
    }
    int32_t dim = q.spec->dim;
    float *qv = cdx_arena_alloc(q.a, (size_t)dim * sizeof *qv);
    float *cv = cdx_arena_alloc(q.a, (size_t)r.n * (size_t)dim * sizeof *cv);
    ranked *rk = cdx_arena_alloc(q.a, (size_t)r.n * sizeof *rk);
    if (!qv || !cv || !rk) {
        cdx_job_error(job, 500, "internal", "out of memory");
        goto done;
    }
    if (query_vector(&q, &r.query, qv) != CDX_OK || candidate_vectors(&q, &r, cv) != CDX_OK)
        goto done;
    /* Cosine (vectors are normalized), then the model's own probability:
     * CLIP trains a softmax over candidates at logit_scale; SigLIP a sigmoid
     * per pair with logit_scale and logit_bias. */
    double scale = q.spec->scoring.logit_scale, bias = q.spec->scoring.logit_bias, mx = -INFINITY, z = 0;
    int siglip = q.spec->family == CDX_FAMILY_SIGLIP;
    for (int32_t i = 0; i < r.n; i++) {
        double dot = 0;
        for (int32_t d = 0; d < dim; d++)
            dot += (double)qv[d] * cv[(size_t)i * dim + d];
        rk[i] = (ranked){i, (float)dot, 0};
        mx = fmax(mx, scale * dot);
    }
    for (int32_t i = 0; i < r.n; i++) {
        double logit = scale * rk[i].cosine;
        if (siglip) {
            rk[i].prob = 1.0 / (1.0 + exp(-(logit + bias)));
        } else {
            rk[i].prob = exp(logit - mx);
            z += rk[i].prob;
        }
    }
    for (int32_t i = 0; i < r.n && !siglip; i++)
        rk[i].prob /= z;
    qsort(rk, (size_t)r.n, sizeof *rk, by_cosine_desc);
    if (job->answer_pb) {
        Clipdex__V1__RerankResponse resp = CLIPDEX__V1__RERANK_RESPONSE__INIT;
        Clipdex__V1__Timings t;
        Clipdex__V1__RerankResult *pr = cdx_arena_calloc(q.a, (size_t)r.n, sizeof *pr);
        Clipdex__V1__RerankResult **pp = cdx_arena_calloc(q.a, (size_t)r.n, sizeof *pp);
        if (!pr || !pp) {
            cdx_job_error(job, 500, "internal", "out of memory");
            goto done;
        }
        for (int32_t i = 0; i < r.n; i++) {
            clipdex__v1__rerank_result__init(&pr[i]);
            pr[i].index = rk[i].index;
            pr[i].cosine = rk[i].cosine;
            pr[i].probability = (float)rk[i].prob;
            if (r.candidates[rk[i].index].kind == CDX_INPUT_ID)
                pr[i].has_id = 1, pr[i].id = r.candidates[rk[i].index].id;
            pp[i] = &pr[i];
        }
        timings_pb(job, &t);
        resp.n_results = (size_t)r.n;
        resp.results = pp;
        resp.family = (char *)cdx_family_name(q.spec->family);
        resp.timings = &t;
        reply_pb(job, &resp.base);
        goto done;
    }
    json_t *results = json_array();
    for (int32_t i = 0; i < r.n; i++) {
        json_t *o = json_pack("{s:i, s:f, s:f}", "index", rk[i].index, "cosine", (double)rk[i].cosine, "probability",
                              rk[i].prob);
        if (r.candidates[rk[i].index].kind == CDX_INPUT_ID)
            json_object_set_new(o, "id", json_integer(r.candidates[rk[i].index].id));
        json_array_append_new(results, o);
    }
    cdx_job_json(job, 200,
                 json_pack("{s:o, s:s, s:s, s:f, s:o}", "results", results, "family", cdx_family_name(q.spec->family),
                           "probability", siglip ? "sigmoid(logit_scale*cos+logit_bias)" : "softmax(logit_scale*cos)",
                           "logit_scale", scale, "timings_ms", timings_json(job)));
done:
    qctx_end(&q);
}

/* ---- embed (batch lane) -------------------------------------------------- */

void cdx_route_embed(cdx_job *job)
{
    qctx q;
    if (qctx_begin(&q, job, 0) != 0)
        return;
    cdx_embed_request r;
    const char *reason = NULL;
    int rc = cdx_request_parse_embed(job->body, job->body_len, job->body_pb, &q.lim, q.a, &r, &reason, &q.eb);
    if (rc != CDX_OK) {
        parse_error(job, rc, reason, &q.eb);
        goto done;
    }
    int32_t dim = q.spec->dim, n_text = 0;
    float *out = cdx_arena_alloc(q.a, (size_t)r.n * (size_t)dim * sizeof *out);
    const char **texts = cdx_arena_alloc(q.a, (size_t)r.n * sizeof *texts);
    size_t *lens = cdx_arena_alloc(q.a, (size_t)r.n * sizeof *lens);
    if (!out || !texts || !lens) {
        cdx_job_error(job, 500, "internal", "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < r.n && r.inputs[i].kind == CDX_INPUT_TEXT; i++, n_text++)
        texts[i] = r.inputs[i].text, lens[i] = r.inputs[i].text_len;
    rc = embed_texts(&q, CDX_GATE_BATCH, texts, lens, n_text, out, q.s->p.batch_chunk);
    int32_t n_img = r.n - n_text;
    const uint8_t **imgs = cdx_arena_alloc(q.a, (size_t)CDX_MAX(n_img, 1) * sizeof *imgs);
    size_t *img_lens = cdx_arena_alloc(q.a, (size_t)CDX_MAX(n_img, 1) * sizeof *img_lens);
    if (rc == CDX_OK && (!imgs || !img_lens))
        rc = cdx_errbuf_set(&q.eb, CDX_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; rc == CDX_OK && i < n_img; i++)
        imgs[i] = r.inputs[n_text + i].image, img_lens[i] = r.inputs[n_text + i].image_len;
    if (rc == CDX_OK)
        rc = embed_images(&q, CDX_GATE_BATCH, imgs, img_lens, NULL, n_img, out + (size_t)n_text * dim,
                          q.s->p.batch_chunk);
    if (rc != CDX_OK) {
        encode_error(job, rc, &q.eb);
        goto done;
    }
    if (job->answer_pb) {
        Clipdex__V1__EmbedResponse resp = CLIPDEX__V1__EMBED_RESPONSE__INIT;
        Clipdex__V1__Timings t;
        Clipdex__V1__Vector *pv = cdx_arena_calloc(q.a, (size_t)r.n, sizeof *pv);
        Clipdex__V1__Vector **pp = cdx_arena_calloc(q.a, (size_t)r.n, sizeof *pp);
        if (!pv || !pp) {
            cdx_job_error(job, 500, "internal", "out of memory");
            goto done;
        }
        for (int32_t i = 0; i < r.n; i++) {
            clipdex__v1__vector__init(&pv[i]);
            pv[i].n_values = (size_t)dim;
            pv[i].values = out + (size_t)i * dim;
            pp[i] = &pv[i];
        }
        timings_pb(job, &t);
        resp.dim = dim;
        resp.n_vectors = (size_t)r.n;
        resp.vectors = pp;
        resp.contract = (char *)q.spec->id;
        resp.timings = &t;
        reply_pb(job, &resp.base);
        goto done;
    }
    json_t *vectors = json_array();
    for (int32_t i = 0; i < r.n; i++) {
        json_t *v = json_array();
        for (int32_t d = 0; d < dim; d++)
            json_array_append_new(v, json_real(out[(size_t)i * dim + d]));
        json_array_append_new(vectors, json_pack("{s:s, s:i, s:o}", "kind", i < n_text ? "text" : "image", "index",
                                                 i < n_text ? i : i - n_text, "vector", v));
    }
    cdx_job_json(job, 200,
                 json_pack("{s:s, s:s, s:i, s:o, s:o}", "contract", q.spec->id, "space_hash", q.spec->space_hash, "dim",
                           dim, "vectors", vectors, "timings_ms", timings_json(job)));
done:
    qctx_end(&q);
}
