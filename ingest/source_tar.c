/* Tar source: one webdataset shard streamed with libarchive (any compression
 * libarchive reads). Members are grouped by key, the member's path up to the
 * first '.' of its file name ("a/b/000123.jpg" -> "a/b/000123"); the
 * members of a sample sit next to each other in a shard, so a group ends
 * where the key changes. Each image member of a group is an item, uri
 * "SHARD#member", its bytes in memory; "KEY.txt" is its caption, "KEY.json"
 * (an object) its metadata, and that object's "caption" string its caption
 * when there is no .txt. A member over max_bytes fails without being read;
 * a damaged shard fails from the damage on, as one item named after the
 * shard, and the job goes on with the next source. */
#include "common/escape.h"
#include "common/log.h"
#include "ingest/source_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct member {
    char *name;     /* path inside the shard */
    char *ext;      /* after the key's '.', e.g. "jpg", "txt", "seg.png" */
    uint8_t *data;
    size_t len;
    int64_t size, mtime_ns;
    int too_big;
} member;

typedef struct tar_src {
    cdx_source_params params;
    char *path;          /* the shard, absolute */
    struct archive *a;
    int header_pending;  /* a header was read that belongs to the next group */
    struct archive_entry *entry;
    int done;
    char *key;           /* the group being gathered */
    member *members;
    size_t n_members, cap_members;
    cdx_source_item **ready; /* items made from the last group */
    size_t n_ready, next_ready;
} tar_src;

static void clear_group(tar_src *t)
{
    for (size_t i = 0; i < t->n_members; i++) {
        free(t->members[i].name);
        free(t->members[i].data);
    }
    t->n_members = 0;
    free(t->key);
    t->key = NULL;
}

static void clear_ready(tar_src *t)
{
    for (size_t i = t->next_ready; i < t->n_ready; i++)
        cdx_source_item_free(t->ready[i]);
    free(t->ready);
    t->ready = NULL;
    t->n_ready = t->next_ready = 0;
}

static void tar_close(void *impl)
{
    tar_src *t = impl;
    if (!t)
        return;
    clear_group(t);
    clear_ready(t);
    free(t->members);
    if (t->a)
        archive_read_free(t->a);
    free(t->path);
    free((char *)t->params.extensions);
    free(t);
}

int cdx_source_tar_open(const char *spec, const cdx_source_params *p, void **impl, cdx_errbuf *eb)
{
    char shown[512];
    tar_src *t = calloc(1, sizeof *t);
    *impl = NULL;
    if (!t)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    t->params = *p;
    t->params.extensions = p->extensions ? strdup(p->extensions) : NULL;
    t->path = cdx_path_absolute(spec, NULL);
    t->a = archive_read_new();
    int rc = CDX_OK;
    if (!t->path || !t->a) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    } else {
        archive_read_support_filter_all(t->a);
        archive_read_support_format_tar(t->a);
        if (archive_read_open_filename(t->a, spec, 1 << 20) != ARCHIVE_OK)
            rc = cdx_errbuf_set(eb, CDX_ERR_IO, "tar shard %s: %s", cdx_escape_name(spec, shown, sizeof shown),
                                archive_error_string(t->a));
    }
    if (rc != CDX_OK)
        tar_close(t);
    else
        *impl = t;
    return rc;
}

int64_t cdx_source_tar_consumed(void *impl)
{
    tar_src *t = impl;
    return t && t->a ? (int64_t)archive_filter_bytes(t->a, -1) : 0;
}

/* key = name up to the first '.' of its last component; ext after it. */
static const char *split_key(const char *name, size_t *key_len)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strchr(base, '.');
    *key_len = dot ? (size_t)(dot - name) : strlen(name);
    return dot ? dot + 1 : "";
}

static char *text_of(const member *m)
{
    size_t n = m->len;
    while (n && (m->data[n - 1] == '\n' || m->data[n - 1] == '\r'))
        n--;
    return n ? strndup((const char *)m->data, n) : NULL;
}

/* Items for every image member of the group. */
static int finish_group(tar_src *t)
{
    const member *txt = NULL, *js = NULL;
    size_t images = 0;
    for (size_t i = 0; i < t->n_members; i++) {
        const member *m = &t->members[i];
        if (strcasecmp(m->ext, "txt") == 0)
            txt = m;
        else if (strcasecmp(m->ext, "json") == 0)
            js = m;
        else if (cdx_source_ext_match(m->name, t->params.extensions))
            images++;
    }
    char *caption = txt && !txt->too_big ? text_of(txt) : NULL, *meta = NULL;
    if (js && !js->too_big) {
        json_error_t jerr;
        json_t *obj = json_loadb((const char *)js->data, js->len, 0, &jerr);
        if (json_is_object(obj)) {
            json_t *c = json_object_get(obj, "caption");
            if (!caption && json_is_string(c) && json_string_length(c))
                caption = strdup(json_string_value(c));
            meta = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        } else if (!t->params.quiet) {
            cdx_log_warn("ingest", "%s#%s: not a JSON object (%s); the sample's metadata is dropped", t->path,
                         js->name, obj ? "another JSON value" : jerr.text);
        }
        json_decref(obj);
    }
    int rc = CDX_OK;
    clear_ready(t);
    if (images && !(t->ready = calloc(images, sizeof *t->ready)))
        rc = CDX_ERR_NOMEM;
    for (size_t i = 0; i < t->n_members && rc == CDX_OK; i++) {
        member *m = &t->members[i];
        if (m == txt || m == js || !cdx_source_ext_match(m->name, t->params.extensions))
            continue;
        size_t ul = strlen(t->path) + strlen(m->name) + 2;
        char *uri = malloc(ul);
        if (!uri) {
            rc = CDX_ERR_NOMEM;
            break;
        }
        snprintf(uri, ul, "%s#%s", t->path, m->name);
        cdx_source_item *it =
            m->too_big ? cdx_source_item_failed(uri, CDX_ERR_TOOBIG,
                                                "tar member of %lld bytes, over the %lld-byte limit; raise the limit "
                                                "or leave it out",
                                                (long long)m->size, (long long)t->params.max_bytes)
                       : cdx_source_item_new(uri, NULL);
        free(uri);
        if (!it || (caption && !(it->caption = strdup(caption))) || (meta && !(it->meta_json = strdup(meta)))) {
            cdx_source_item_free(it);
            rc = CDX_ERR_NOMEM;
            break;
        }
        it->size = m->size;
        it->mtime_ns = m->mtime_ns;
        if (!m->too_big) {
            it->data = m->data, it->len = m->len;
            m->data = NULL;
        }
        t->ready[t->n_ready++] = it;
    }
    free(caption);
    free(meta);
    clear_group(t);
    return rc;
}

/* Reads the pending entry's data into the group. */
static int add_member(tar_src *t, struct archive_entry *e, cdx_errbuf *eb)
{
    const char *name = archive_entry_pathname(e);
    size_t key_len;
    const char *ext = split_key(name, &key_len);
    if (t->n_members == t->cap_members) {
        size_t cap = t->cap_members ? t->cap_members * 2 : 8;
        member *m = realloc(t->members, cap * sizeof *m);
        if (!m)
            return CDX_ERR_NOMEM;
        t->members = m, t->cap_members = cap;
    }
    member *m = &t->members[t->n_members];
    memset(m, 0, sizeof *m);
    if (!(m->name = strdup(name)))
        return CDX_ERR_NOMEM;
    m->ext = m->name + (ext - name);
    t->n_members++;
    m->size = archive_entry_size(e);
    m->mtime_ns = (int64_t)archive_entry_mtime(e) * 1000000000 + archive_entry_mtime_nsec(e);
    /* Only the members a sample uses are read; the rest are skipped unread. */
    int used = strcasecmp(m->ext, "txt") == 0 || strcasecmp(m->ext, "json") == 0 ||
               cdx_source_ext_match(name, t->params.extensions);
    if (!used)
        return CDX_OK;
    if (m->size > t->params.max_bytes) {
        m->too_big = 1;
        return CDX_OK;
    }
    if (m->size > 0 && !(m->data = malloc((size_t)m->size)))
        return CDX_ERR_NOMEM;
    while (m->len < (size_t)m->size) {
        la_ssize_t got = archive_read_data(t->a, m->data + m->len, (size_t)m->size - m->len);
        if (got < 0)
            return cdx_errbuf_set(eb, CDX_ERR_IO, "%s", archive_error_string(t->a));
        if (got == 0)
            break;
        m->len += (size_t)got;
    }
    return CDX_OK;
}

static int tar_next(void *impl, cdx_source_item **out, cdx_errbuf *eb)
{
    tar_src *t = impl;
    char shown[512];
    for (;;) {
        if (t->next_ready < t->n_ready) {
            *out = t->ready[t->next_ready++];
            return 1;
        }
        if (t->done)
            return 0;
        if (!t->header_pending) {
            int r = archive_read_next_header(t->a, &t->entry);
            if (r == ARCHIVE_EOF || r == ARCHIVE_FATAL) {
                /* Damage ends the shard: what was gathered still counts, and
                 * the damage is the shard's own failure. */
                t->done = 1;
                if (finish_group(t) != CDX_OK)
                    return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
                if (r == ARCHIVE_FATAL) {
                    cdx_source_item *it = cdx_source_item_failed(
                        t->path, CDX_ERR_DECODE, "tar shard damaged after %lld bytes: %s; the rest of it was not read",
                        (long long)archive_filter_bytes(t->a, -1), archive_error_string(t->a));
                    if (!it)
                        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
                    *out = it;
                    return 1;
                }
                continue;
            }
            if (r == ARCHIVE_WARN)
                cdx_log_warn("ingest", "tar shard %s: %s", cdx_escape_name(t->path, shown, sizeof shown),
                             archive_error_string(t->a));
            if (archive_entry_filetype(t->entry) != AE_IFREG)
                continue;
            t->header_pending = 1;
        }
        const char *name = archive_entry_pathname(t->entry);
        size_t key_len;
        split_key(name ? name : "", &key_len);
        if (!name || !*name) {
            t->header_pending = 0;
            continue;
        }
        if (t->key && (strlen(t->key) != key_len || strncmp(t->key, name, key_len) != 0)) {
            if (finish_group(t) != CDX_OK) /* the header stays pending for the next group */
                return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
            continue;
        }
        if (!t->key && !(t->key = strndup(name, key_len)))
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
        t->header_pending = 0;
        cdx_errbuf rerr = {0};
        int rc = add_member(t, t->entry, &rerr);
        if (rc == CDX_ERR_NOMEM)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
        if (rc != CDX_OK) {
            t->done = 1;
            clear_group(t);
            *out = cdx_source_item_failed(t->path, CDX_ERR_DECODE, "tar shard damaged in member %s: %s", name,
                                          cdx_errbuf_msg(&rerr));
            return *out ? 1 : cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
        }
    }
}

const cdx_source_kind cdx_source_tar_kind = {"tar shard", tar_next, tar_close};
