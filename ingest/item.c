/* The per-item path of ingest, shared by the bulk pipeline (pipeline.c) and
 * cdx_ingest_item_buffer (the server's uploads):
 *
 *   prepare: read the bytes -> content hash -> is this uri already embedded
 *            with these bytes (skip)? did it already fail with these bytes
 *            (skip unless retrying)? are the same bytes in flight (ride
 *            along) or stored under another uri (copy the vector)? -> else
 *            decode and preprocess into a tensor
 *   write:   captions through the text tower -> one put_batch for the items
 *            with vectors -> dead letters for the failures -> the followers
 *            of the items just committed
 *
 * The in-flight table is consulted and filled under one lock, together with
 * the store's hash lookup, and an entry leaves it only after its leader is
 * committed: so a third copy of some bytes sees either the entry or the
 * stored vector, and the bytes are embedded once. */
#include "common/escape.h"
#include "common/log.h"
#include "common/util.h"
#include "ingest/ingest_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int hash_eq(cdx_hash128 a, cdx_hash128 b) { return a.hi == b.hi && a.lo == b.lo; }

/* ---- context and tensors ------------------------------------------------------ */

int ingest_ctx_init(ingest_ctx *c, cdx_store *s, cdx_encoder *e, cdx_errbuf *eb)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->pool_mu, NULL);
    c->store = s;
    c->enc = e;
    c->pp = cdx_encoder_preprocess(e);
    if (!c->pp || !cdx_encoder_tower(e, CDX_TOWER_VISION))
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "ingest: the encoder was opened without its image tower");
    c->dim = cdx_encoder_spec(e)->dim;
    c->tensor_floats = cdx_preprocess_tensor_floats(c->pp);
    c->max_bytes = (int64_t)128 << 20;
    return CDX_OK;
}

void ingest_ctx_destroy(ingest_ctx *c)
{
    for (size_t i = 0; i < c->n_pool; i++)
        free(c->pool[i]);
    free(c->pool);
    c->pool = NULL;
    c->n_pool = c->cap_pool = 0;
    pthread_mutex_destroy(&c->pool_mu);
}

/* Tensors are recycled: the pipeline holds a bounded number at a time, and
 * reusing them keeps the allocator (and RSS) out of the steady state. */
float *ingest_tensor_get(ingest_ctx *c)
{
    float *t = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->n_pool)
        t = c->pool[--c->n_pool];
    pthread_mutex_unlock(&c->pool_mu);
    return t ? t : malloc(c->tensor_floats * sizeof(float));
}

void ingest_tensor_put(ingest_ctx *c, float *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&c->pool_mu);
    if (c->n_pool == c->cap_pool) {
        size_t cap = c->cap_pool ? c->cap_pool * 2 : 64;
        float **p = realloc(c->pool, cap * sizeof *p);
        if (p)
            c->pool = p, c->cap_pool = cap;
    }
    if (c->n_pool < c->cap_pool) {
        c->pool[c->n_pool++] = t;
        t = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    free(t);
}

/* ---- items ------------------------------------------------------------------- */

job_item *job_item_new(cdx_source_item *src)
{
    job_item *it = calloc(1, sizeof *it);
    if (it) {
        it->src = src;
        it->bytes = src->size;
        it->mtime_ns = src->mtime_ns;
    }
    return it;
}

void job_item_free(ingest_ctx *c, job_item *it)
{
    if (!it)
        return;
    ingest_tensor_put(c, it->tensor);
    free(it->vector);
    free(it->message);
    cdx_source_item_free(it->src);
    free(it);
}

void job_item_fail(job_item *it, const char *stage, int code, const char *message)
{
    it->kind = JOB_FAILED;
    it->stage = stage;
    it->code = code;
    free(it->message);
    it->message = strdup(message ? message : cdx_strerror(code));
}

/* ---- known failures ------------------------------------------------------------ */

static size_t str_slot(const char *s, size_t cap)
{
    cdx_hash128 h = cdx_hash128_bytes(s, strlen(s));
    return (size_t)h.lo & (cap - 1);
}

static int failure_set_add(failure_set *f, const char *uri, const char *hex)
{
    if ((f->n + 1) * 2 > f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        failure_set g = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(cdx_hash128)), calloc(cap, 1), cap, f->n};
        if (!g.uris || !g.hashes || !g.has_hash) {
            failure_set_free(&g);
            return CDX_ERR_NOMEM;
        }
        for (size_t i = 0; i < f->cap; i++) {
            if (!f->uris[i])
                continue;
            size_t k = str_slot(f->uris[i], cap);
            while (g.uris[k])
                k = (k + 1) & (cap - 1);
            g.uris[k] = f->uris[i], g.hashes[k] = f->hashes[i], g.has_hash[k] = f->has_hash[i];
        }
        free(f->uris);
        free(f->hashes);
        free(f->has_hash);
        *f = g;
    }
    size_t k = str_slot(uri, f->cap);
    while (f->uris[k] && strcmp(f->uris[k], uri) != 0)
        k = (k + 1) & (f->cap - 1);
    if (!f->uris[k]) {
        if (!(f->uris[k] = strdup(uri)))
            return CDX_ERR_NOMEM;
        f->n++;
    }
    f->has_hash[k] = hex && cdx_hash128_from_hex(hex, &f->hashes[k]) == CDX_OK;
    return CDX_OK;
}

typedef struct failure_load {
    failure_set *set;
    const char *contract_id;
} failure_load;

static int failure_load_row(void *ctx, const cdx_failure_row *row)
{
    failure_load *l = ctx;
    if (l->contract_id && row->contract_id && strcmp(row->contract_id, l->contract_id) != 0)
        return 0;
    return failure_set_add(l->set, row->uri, row->content_hash && row->content_hash[0] ? row->content_hash : NULL);
}

int failure_set_load(failure_set *f, cdx_store *s, const char *contract_id, cdx_errbuf *eb)
{
    memset(f, 0, sizeof *f);
    failure_load l = {f, contract_id};
    int rc = cdx_store_list_failures(s, failure_load_row, &l, eb);
    if (rc == CDX_ERR_NOMEM)
        cdx_errbuf_set(eb, rc, "ingest: out of memory loading the failures");
    return rc;
}

int failure_set_find(const failure_set *f, const char *uri, cdx_hash128 *hash, int *has_hash)
{
    if (!f || f->n == 0)
        return 0;
    for (size_t k = str_slot(uri, f->cap); f->uris[k]; k = (k + 1) & (f->cap - 1))
        if (strcmp(f->uris[k], uri) == 0) {
            *hash = f->hashes[k];
            *has_hash = f->has_hash[k];
            return 1;
        }
    return 0;
}

void failure_set_free(failure_set *f)
{
    if (f->uris)
        for (size_t i = 0; i < f->cap; i++)
            free(f->uris[i]);
    free(f->uris);
    free(f->hashes);
    free(f->has_hash);
    memset(f, 0, sizeof *f);
}

/* ---- in flight ------------------------------------------------------------------ */

int inflight_init(inflight_table *t)
{
    memset(t, 0, sizeof *t);
    return pthread_mutex_init(&t->mu, NULL) == 0 ? CDX_OK : CDX_ERR_INTERNAL;
}

void inflight_destroy(inflight_table *t)
{
    for (size_t b = 0; b < INFLIGHT_BUCKETS; b++)
        for (inflight *e = t->buckets[b], *next; e; e = next) {
            next = e->next;
            for (job_item *f = e->followers, *fn; f; f = fn) {
                fn = f->next;
                cdx_source_item_free(f->src);
                free(f->vector);
                free(f->message);
                free(f);
            }
            free(e);
        }
    pthread_mutex_destroy(&t->mu);
}

static inflight **inflight_slot(inflight_table *t, cdx_hash128 h)
{
    inflight **p = &t->buckets[h.lo % INFLIGHT_BUCKETS];
    while (*p && !hash_eq((*p)->hash, h))
        p = &(*p)->next;
    return p;
}

/* Removes the entry the item leads and returns its followers (under the lock). */
static job_item *inflight_release(inflight_table *t, job_item *leader)
{
    if (!t || !leader->leads)
        return NULL;
    pthread_mutex_lock(&t->mu);
    inflight **p = inflight_slot(t, leader->hash);
    job_item *followers = NULL;
    if (*p == leader->leads) {
        inflight *e = *p;
        *p = e->next;
        followers = e->followers;
        free(e);
    }
    pthread_mutex_unlock(&t->mu);
    leader->leads = NULL;
    return followers;
}

/* ---- prepare -------------------------------------------------------------------- */

/* Reads a whole regular file; on failure returns the code and fills msg. */
static int read_file(const char *path, int64_t max_bytes, uint8_t **out, size_t *len, struct stat *st, char *msg,
                     size_t cap)
{
    *out = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO swapped in for the file must not hang a worker. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    int rc = CDX_OK;
    if (fd < 0) {
        int e = errno;
        snprintf(msg, cap, "%s",
                 e == ELOOP    ? "symlink loop: too many levels of symbolic links"
                 : e == EACCES ? "permission denied; make the file readable by this user"
                               : strerror(e));
        return e == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO;
    }
    if (fstat(fd, st) != 0) {
        snprintf(msg, cap, "stat: %s", strerror(errno));
        rc = CDX_ERR_IO;
    } else if (!S_ISREG(st->st_mode)) {
        snprintf(msg, cap, "not a regular file; clipdex reads only files");
        rc = CDX_ERR_UNSUPPORTED;
    } else if ((int64_t)st->st_size > max_bytes) {
        snprintf(msg, cap, "%lld bytes, over the %lld-byte limit", (long long)st->st_size, (long long)max_bytes);
        rc = CDX_ERR_TOOBIG;
    } else if (!(*out = malloc(st->st_size ? (size_t)st->st_size : 1))) {
        snprintf(msg, cap, "out of memory reading %lld bytes", (long long)st->st_size);
        rc = CDX_ERR_NOMEM;
    }
    while (rc == CDX_OK && *len < (size_t)st->st_size) {
        ssize_t n = read(fd, *out + *len, (size_t)st->st_size - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(msg, cap, "read: %s", strerror(errno));
            rc = CDX_ERR_IO;
        } else if (n == 0) {
            break; /* shrank while read: what is there is the file now */
        } else {
            *len += (size_t)n;
        }
    }
    close(fd);
    if (rc != CDX_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Copies the stored vector (and the stored size) of item id into it: JOB_REUSE. */
static int reuse_stored(ingest_ctx *c, job_item *it, int64_t id, cdx_errbuf *eb)
{
    if (!it->vector && !(it->vector = malloc((size_t)c->dim * sizeof(float))))
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
    int rc = cdx_store_get_vector(c->store, id, CDX_SPACE_IMAGE, it->vector, eb);
    if (rc != CDX_OK)
        return rc; /* NOTFOUND: deleted meanwhile; the caller embeds */
    cdx_item_row row = {0};
    if (cdx_store_get_item(c->store, id, &row, eb) == CDX_OK) {
        it->width = row.width;
        it->height = row.height;
    }
    cdx_item_row_clear(&row);
    it->kind = JOB_REUSE;
    return CDX_OK;
}

/* Decides an item with its hash known: skip, ride along, reuse, or embed. */
static int decide(ingest_ctx *c, job_item *it, cdx_errbuf *eb)
{
    const cdx_source_item *src = it->src;
    int rc;
    if (!c->force) {
        cdx_item_state st = {0};
        if ((rc = cdx_store_lookup_uri(c->store, src->uri, &st, eb)) != CDX_OK)
            return rc;
        if (st.found && st.has_vector && hash_eq(st.content_hash, it->hash)) {
            it->id = st.id;
            it->kind = JOB_UNCHANGED;
            if (!(c->captions && src->caption))
                return CDX_OK;
            /* Embedded before without a caption vector: add it now, reusing the image's. */
            float *cap = malloc((size_t)c->dim * sizeof *cap);
            if (!cap)
                return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
            rc = cdx_store_get_vector(c->store, st.id, CDX_SPACE_CAPTION, cap, eb);
            free(cap);
            if (rc != CDX_ERR_NOTFOUND || (rc = reuse_stored(c, it, st.id, eb)) != CDX_ERR_NOTFOUND)
                return rc;
            it->kind = JOB_EMBED; /* deleted meanwhile */
        }
        cdx_hash128 fh;
        int has;
        if (c->known_failures && !c->retry_failed && failure_set_find(c->known_failures, src->uri, &fh, &has) &&
            has && hash_eq(fh, it->hash)) {
            it->kind = JOB_KNOWN_FAILURE;
            return CDX_OK;
        }
    }
    rc = CDX_OK;
    if (c->inflight)
        pthread_mutex_lock(&c->inflight->mu);
    inflight **slot = c->inflight ? inflight_slot(c->inflight, it->hash) : NULL;
    if (slot && *slot) {
        it->kind = JOB_FOLLOWER;
        it->next = (*slot)->followers;
        (*slot)->followers = it;
        goto unlock;
    }
    int64_t id = 0;
    if (!c->force && (rc = cdx_store_lookup_hash(c->store, it->hash, &id, eb)) != CDX_OK)
        goto unlock;
    if (id > 0) {
        rc = reuse_stored(c, it, id, eb);
        if (rc != CDX_ERR_NOTFOUND)
            goto unlock;
        rc = CDX_OK;
    }
    it->kind = JOB_EMBED;
    if (slot) {
        inflight *e = calloc(1, sizeof *e);
        if (!e) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
            goto unlock;
        }
        e->hash = it->hash;
        *slot = e;
        it->leads = e;
    }
unlock:
    if (c->inflight)
        pthread_mutex_unlock(&c->inflight->mu);
    return rc;
}

int ingest_prepare(ingest_ctx *c, job_item *it, cdx_errbuf *eb)
{
    cdx_source_item *src = it->src;
    char msg[CDX_ERRMSG_MAX];
    if (src->error != CDX_OK) {
        job_item_fail(it, "read", src->error, src->message);
        return CDX_OK;
    }
    uint8_t *owned = NULL;
    const uint8_t *data = src->data;
    size_t len = src->len;
    int rc = CDX_OK;
    if (!data) {
        struct stat st;
        int r = read_file(src->path, c->max_bytes, &owned, &len, &st, msg, sizeof msg);
        if (r != CDX_OK) {
            job_item_fail(it, "read", r, msg);
            return CDX_OK;
        }
        data = owned;
        it->bytes = (int64_t)st.st_size;
        it->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    } else {
        it->bytes = (int64_t)len;
    }
    it->hash = cdx_hash128_bytes(data, len);
    it->have_hash = 1;
    if ((rc = decide(c, it, eb)) != CDX_OK || it->kind != JOB_EMBED)
        goto done;
    /* Decode: only the items no stored vector can stand for get here. */
    cdx_preprocess_info info;
    cdx_errbuf derr = {0};
    if (!(it->tensor = ingest_tensor_get(c))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
        goto done;
    }
    int r = cdx_preprocess_buffer(c->pp, data, len, src->uri, it->tensor, c->tensor_floats, &info, &derr);
    if (r != CDX_OK) {
        ingest_tensor_put(c, it->tensor);
        it->tensor = NULL;
        job_item_fail(it, "decode", r, cdx_errbuf_msg(&derr));
    } else {
        it->width = info.width;
        it->height = info.height;
    }
done:
    free(owned);
    free(src->data); /* tar bytes: not needed past this point */
    src->data = NULL;
    src->len = 0;
    return rc;
}

/* ---- the image tower in bucket-sized chunks ------------------------------------------ */

int32_t ingest_chunk_rows(const cdx_contract_spec *s, int32_t left)
{
    int32_t best = 0;
    for (int32_t i = 0; i < s->n_batch_buckets; i++)
        if (s->batch_buckets[i] <= left && s->batch_buckets[i] > best)
            best = s->batch_buckets[i];
    return best ? best : left;
}

/* ---- write ------------------------------------------------------------------------ */

/* Caption vectors for the items that have a caption, into caps (n x dim).
 * A caption the tokenizer refuses loses its vector, not the item. */
static void embed_captions(ingest_ctx *c, job_item **put, int32_t n, float *caps, int *has_cap)
{
    const char **texts = malloc((size_t)n * sizeof *texts);
    int32_t *rows = malloc((size_t)n * sizeof *rows), m = 0;
    float *tmp = malloc((size_t)n * (size_t)c->dim * sizeof *tmp);
    cdx_errbuf eb = {0};
    if (!texts || !rows || !tmp)
        goto done;
    for (int32_t i = 0; i < n; i++)
        if (put[i]->src->caption)
            texts[m] = put[i]->src->caption, rows[m++] = i;
    if (m == 0)
        goto done;
    if (cdx_encoder_embed_texts(c->enc, texts, NULL, m, tmp, &eb) == CDX_OK) {
        for (int32_t k = 0; k < m; k++) {
            memcpy(caps + (size_t)rows[k] * (size_t)c->dim, tmp + (size_t)k * (size_t)c->dim,
                   (size_t)c->dim * sizeof *tmp);
            has_cap[rows[k]] = 1;
        }
        goto done;
    }
    for (int32_t k = 0; k < m; k++) { /* one at a time, to keep the good ones */
        float *row = caps + (size_t)rows[k] * (size_t)c->dim;
        if (cdx_encoder_embed_texts(c->enc, &texts[k], NULL, 1, row, &eb) == CDX_OK) {
            has_cap[rows[k]] = 1;
        } else {
            char shown[512];
            cdx_log_warn("ingest", "%s: caption not embedded: %s", cdx_escape_name(put[rows[k]]->src->uri, shown, sizeof shown),
                         cdx_errbuf_msg(&eb));
        }
    }
done:
    free(texts);
    free(rows);
    free(tmp);
}

static enum cdx_ingest_outcome outcome_of(enum job_kind k)
{
    return k == JOB_EMBED ? CDX_INGEST_OUTCOME_EMBEDDED
           : k == JOB_REUSE ? CDX_INGEST_OUTCOME_REUSED
           : k == JOB_UNCHANGED ? CDX_INGEST_OUTCOME_UNCHANGED
           : k == JOB_KNOWN_FAILURE ? CDX_INGEST_OUTCOME_KNOWN_FAILURE
                                    : CDX_INGEST_OUTCOME_FAILED;
}

static int put_items(ingest_ctx *c, job_item **put, int32_t n, ingest_counts *counts, cdx_errbuf *eb)
{
    size_t d = (size_t)c->dim;
    cdx_item *rows = calloc((size_t)n, sizeof *rows);
    float *img = malloc((size_t)n * d * sizeof *img), *caps = NULL;
    int *has_cap = calloc((size_t)n, sizeof *has_cap);
    int rc = CDX_OK;
    if (!rows || !img || !has_cap) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
        goto done;
    }
    if (c->captions && cdx_encoder_tower(c->enc, CDX_TOWER_TEXT)) {
        if (!(caps = calloc((size_t)n * d, sizeof *caps))) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
            goto done;
        }
        embed_captions(c, put, n, caps, has_cap);
    }
    for (int32_t i = 0; i < n; i++) {
        job_item *it = put[i];
        rows[i] = (cdx_item){
            .uri = it->src->uri,
            .content_hash = it->hash,
            .bytes = it->bytes,
            .mtime_ns = it->mtime_ns,
            .width = it->width,
            .height = it->height,
            .caption = it->src->caption,
            .meta_json = it->src->meta_json,
        };
        memcpy(img + (size_t)i * d, it->vector, d * sizeof *img);
    }
    /* put_batch stores a caption vector for every item with a caption when
     * caption vectors are given: items whose caption failed to embed go in a
     * second call without them. */
    int32_t n_fail_cap = 0;
    if (caps)
        for (int32_t i = 0; i < n; i++)
            n_fail_cap += put[i]->src->caption && !has_cap[i];
    if (caps && n_fail_cap) {
        cdx_item *a = calloc((size_t)n, sizeof *a), *b = calloc((size_t)n, sizeof *b);
        float *ai = malloc((size_t)n * d * sizeof *ai), *ac = malloc((size_t)n * d * sizeof *ac),
              *bi = malloc((size_t)n * d * sizeof *bi);
        int32_t na = 0, nb = 0;
        if (!a || !b || !ai || !ac || !bi) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
        } else {
            for (int32_t i = 0; i < n; i++) {
                if (put[i]->src->caption && !has_cap[i]) {
                    memcpy(bi + (size_t)nb * d, img + (size_t)i * d, d * sizeof *bi);
                    b[nb++] = rows[i];
                } else {
                    memcpy(ai + (size_t)na * d, img + (size_t)i * d, d * sizeof *ai);
                    memcpy(ac + (size_t)na * d, caps + (size_t)i * d, d * sizeof *ac);
                    a[na++] = rows[i];
                }
            }
            if (na)
                rc = cdx_store_put_batch(c->store, a, ai, ac, na, eb);
            if (rc == CDX_OK && nb)
                rc = cdx_store_put_batch(c->store, b, bi, NULL, nb, eb);
            for (int32_t i = 0, ka = 0, kb = 0; i < n && rc == CDX_OK; i++)
                rows[i].id = put[i]->src->caption && !has_cap[i] ? b[kb++].id : a[ka++].id;
        }
        free(a), free(b), free(ai), free(ac), free(bi);
    } else {
        rc = cdx_store_put_batch(c->store, rows, img, caps, n, eb);
    }
    if (rc != CDX_OK)
        goto done;
    for (int32_t i = 0; i < n; i++) {
        put[i]->id = rows[i].id;
        counts->outcome[outcome_of(put[i]->kind)]++;
        counts->captions += (uint64_t)has_cap[i];
    }
done:
    free(rows);
    free(img);
    free(caps);
    free(has_cap);
    return rc;
}

static int put_failure(ingest_ctx *c, job_item *it, ingest_counts *counts, cdx_errbuf *eb)
{
    cdx_failure f = {
        .uri = it->src->uri,
        .content_hash = it->have_hash ? it->hash : (cdx_hash128){0, 0},
        .stage = it->stage ? it->stage : "read",
        .code = it->code,
        .message = it->message ? it->message : cdx_strerror(it->code),
    };
    int rc = cdx_store_put_failure(c->store, &f, eb);
    if (rc == CDX_OK) {
        counts->outcome[CDX_INGEST_OUTCOME_FAILED]++;
        uint64_t *by_stage = strcmp(f.stage, "decode") == 0  ? &counts->failed_decode
                             : strcmp(f.stage, "embed") == 0 ? &counts->failed_embed
                                                             : &counts->failed_read;
        (*by_stage)++;
    }
    return rc;
}

int ingest_write(ingest_ctx *c, job_item **items, int32_t n, ingest_counts *counts, cdx_errbuf *eb)
{
    job_item **put = malloc(((size_t)n + 1) * sizeof *put);
    int32_t n_put = 0;
    int rc = CDX_OK;
    if (!put)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
    for (int32_t i = 0; i < n; i++)
        if ((items[i]->kind == JOB_EMBED || items[i]->kind == JOB_REUSE) && items[i]->vector)
            put[n_put++] = items[i];
    if (n_put)
        rc = put_items(c, put, n_put, counts, eb);
    for (int32_t i = 0; i < n && rc == CDX_OK; i++)
        if (items[i]->kind == JOB_FAILED)
            rc = put_failure(c, items[i], counts, eb);
    free(put);
    if (rc != CDX_OK)
        return rc;
    /* Committed: the followers of these items take their vector (or their failure). */
    for (int32_t i = 0; i < n && rc == CDX_OK; i++) {
        job_item *f = inflight_release(c->inflight, items[i]);
        if (!f)
            continue;
        int32_t nf = 0;
        for (job_item *p = f; p; p = p->next)
            nf++;
        job_item **list = malloc((size_t)nf * sizeof *list);
        if (!list) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
            while (f) {
                job_item *next = f->next;
                job_item_free(c, f);
                f = next;
            }
            break;
        }
        nf = 0;
        for (job_item *p = f; p; p = p->next)
            list[nf++] = p;
        const job_item *lead = items[i];
        for (int32_t k = 0; k < nf && rc == CDX_OK; k++) {
            job_item *p = list[k];
            if (lead->kind == JOB_FAILED) {
                job_item_fail(p, lead->stage, lead->code, lead->message);
            } else if ((p->vector = malloc((size_t)c->dim * sizeof(float)))) {
                memcpy(p->vector, lead->vector, (size_t)c->dim * sizeof(float));
                p->kind = JOB_REUSE;
                p->width = lead->width, p->height = lead->height;
            } else {
                rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
            }
        }
        if (rc == CDX_OK)
            rc = ingest_write(c, list, nf, counts, eb);
        for (int32_t k = 0; k < nf; k++)
            job_item_free(c, list[k]);
        free(list);
    }
    return rc;
}

/* ---- one item from memory ------------------------------------------------------------ */

int cdx_ingest_item_buffer(cdx_store *s, cdx_encoder *e, const void *data, size_t len, const char *uri,
                           const char *caption, const char *meta_json, int64_t *id_out, cdx_errbuf *eb)
{
    *id_out = 0;
    ingest_ctx c;
    int rc = ingest_ctx_init(&c, s, e, eb);
    if (rc != CDX_OK)
        return rc;
    c.captions = caption != NULL && cdx_encoder_tower(e, CDX_TOWER_TEXT) != NULL;
    char generated[8 + CDX_HASH128_HEX_LEN + 1];
    if (!uri) {
        char hex[CDX_HASH128_HEX_LEN + 1];
        cdx_hash128_to_hex(cdx_hash128_bytes(data, len), hex);
        snprintf(generated, sizeof generated, "sha128:%s", hex);
        uri = generated;
    }
    cdx_source_item *src = cdx_source_item_new(uri, NULL);
    job_item *it = src ? job_item_new(src) : NULL;
    ingest_counts counts = {0};
    if (!it) {
        cdx_source_item_free(src);
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
        goto done;
    }
    if ((caption && !(src->caption = strdup(caption))) || (meta_json && !(src->meta_json = strdup(meta_json))) ||
        (len && !(src->data = malloc(len)))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
        goto done;
    }
    if (len)
        memcpy(src->data, data, len);
    src->len = len;
    src->size = (int64_t)len;
    if ((rc = ingest_prepare(&c, it, eb)) != CDX_OK)
        goto done;
    if (it->kind == JOB_EMBED) {
        cdx_errbuf terr = {0};
        if (!(it->vector = malloc((size_t)c.dim * sizeof(float)))) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "ingest: out of memory");
            goto done;
        }
        int r = cdx_encoder_embed_pixels(e, it->tensor, 1, it->vector, &terr);
        if (r != CDX_OK)
            job_item_fail(it, "embed", r, cdx_errbuf_msg(&terr));
    }
    if (it->kind == JOB_UNCHANGED) {
        *id_out = it->id;
        goto done;
    }
    if ((rc = ingest_write(&c, &it, 1, &counts, eb)) != CDX_OK)
        goto done;
    if (it->kind == JOB_FAILED) {
        rc = cdx_errbuf_set(eb, it->code, "%s", it->message);
        goto done;
    }
    *id_out = it->id;
done:
    job_item_free(&c, it);
    ingest_ctx_destroy(&c);
    return rc;
}
