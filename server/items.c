/* The item routes: GET /v1/items/{id}, DELETE /v1/items/{id} (token),
 * GET /v1/items/{id}/thumbnail, POST /v1/items (token; batch lane).
 *
 * No request names a file: an item is reached by its catalog id, and the
 * file behind it is the one the catalog recorded (its uri, written by an
 * ingest the operator ran) or, for an upload, the bytes the server stored
 * itself under DATA/uploads/<content hash>. Thumbnails are made with libvips
 * (shrink-on-load) and cached under DATA/thumbs, keyed by id, size and
 * content hash, so a replaced item never shows a stale one. */
#include "server/internal.h"

#include "common/arena.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/util.h"
#include "encoder/encoder.h"
#include "encoder/vips_env.h"
#include "index/store.h"
#include "server/request.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

/* The {id} path segment as an item id; answers 400 itself when it is not one. */
static int path_id(cdx_job *job, int64_t *id)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(job->path_arg, &end, 10);
    if (errno || end == job->path_arg || *end || v < 1) {
        cdx_job_error(job, 400, "bad_id", "'%.32s' is not an item id (a positive integer)", job->path_arg);
        return -1;
    }
    *id = v;
    return 0;
}

static int need_store(cdx_job *job)
{
    if (job->srv->has_catalog)
        return 0;
    cdx_job_error(job, 503, "not_ready", "the server has no index open; see /readyz");
    job->retry_after_s = 5;
    return -1;
}

/* The item named by the path; answers the job itself when there is none. */
static int fetch_row(cdx_job *job, int64_t *id, cdx_item_row *row)
{
    if (path_id(job, id) || need_store(job))
        return -1;
    cdx_errbuf eb = {0};
    int rc = job->srv->cat.get_item(job->srv->cat.ctx, *id, row, &eb);
    if (rc == CDX_ERR_NOTFOUND)
        cdx_job_error(job, 404, "unknown_item", "no item %lld", (long long)*id);
    else if (rc != CDX_OK)
        cdx_job_error(job, 500, "store_failed", "%s", cdx_errbuf_msg(&eb));
    return rc == CDX_OK ? 0 : -1;
}

void cdx_route_item_get(cdx_job *job)
{
    int64_t id;
    cdx_item_row row;
    if (fetch_row(job, &id, &row))
        return;
    json_t *meta = row.meta_json ? json_loads(row.meta_json, 0, NULL) : NULL;
    cdx_job_json(job, 200,
                 json_pack("{s:I, s:s, s:s?, s:o, s:s, s:I, s:i, s:i, s:I, s:I, s:s}", "id", (json_int_t)row.id, "uri",
                           row.uri ? row.uri : "", "caption", row.caption, "metadata", meta ? meta : json_null(),
                           "content_hash", row.content_hash, "bytes", (json_int_t)row.bytes, "width", row.width,
                           "height", row.height, "created_ms", (json_int_t)row.created_ms, "updated_ms",
                           (json_int_t)row.updated_ms, "thumbnail",
                           "see /v1/items/{id}/thumbnail"));
    job->srv->cat.clear_row(&row);
}

void cdx_route_item_delete(cdx_job *job)
{
    int64_t id;
    if (path_id(job, &id) || need_store(job))
        return;
    cdx_errbuf eb = {0};
    int rc = job->srv->cat.delete_item(job->srv->cat.ctx, id, &eb);
    if (rc == CDX_ERR_NOTFOUND)
        cdx_job_error(job, 404, "unknown_item", "no item %lld", (long long)id);
    else if (rc != CDX_OK)
        cdx_job_error(job, 500, "store_failed", "%s", cdx_errbuf_msg(&eb));
    else
        cdx_job_json(job, 200, json_pack("{s:I}", "deleted", (json_int_t)id));
}

/* ---- files under the data directory -------------------------------------- */

static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

/* Writes bytes to path atomically (temp, fsync, rename). */
static int write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%lld", path, (int)getpid(), (long long)cdx_clock_ns());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += n, left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (buf = malloc((size_t)st.st_size)) &&
        fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        CDX_FREE(buf);
    fclose(f);
    *len = buf ? (size_t)st.st_size : 0;
    return buf;
}

/* The file behind an item: its upload, or the path the catalog recorded. */
static int source_path(const cdx_server *s, const char *uri, char *out, size_t cap)
{
    const char *hex = NULL;
    if (strncmp(uri, "upload:", 7) == 0)
        hex = uri + 7;
    else if (strncmp(uri, "sha128:", 7) == 0)
        hex = uri + 7;
    if (hex) {
        cdx_hash128 h;
        if (cdx_hash128_from_hex(hex, &h) != CDX_OK || !s->p.data_dir)
            return -1;
        snprintf(out, cap, "%s/uploads/%s", s->p.data_dir, hex);
        return 0;
    }
    if (strncmp(uri, "file://", 7) == 0)
        uri += 7;
    if (strstr(uri, "://") || (size_t)snprintf(out, cap, "%s", uri) >= cap)
        return -1; /* remote or archive members: no local file to read */
    return 0;
}

void cdx_route_item_thumbnail(cdx_job *job)
{
    cdx_server *s = job->srv;
    int64_t id;
    cdx_item_row row;
    cdx_errbuf eb = {0};
    if (fetch_row(job, &id, &row))
        return;
    char cache[4200] = "", src[4200];
    if (s->p.data_dir) {
        snprintf(cache, sizeof cache, "%s/thumbs", s->p.data_dir);
        if (ensure_dir(cache) != 0)
            cache[0] = 0;
        else
            snprintf(cache, sizeof cache, "%s/thumbs/%lld-%d-%s.jpg", s->p.data_dir, (long long)id, s->p.thumb_size,
                     row.content_hash);
    }
    size_t len = 0;
    char *jpeg = cache[0] ? read_file(cache, &len) : NULL;
    if (!jpeg) {
        if (source_path(s, row.uri ? row.uri : "", src, sizeof src) != 0 || access(src, R_OK) != 0) {
            cdx_job_error(job, 404, "source_missing", "item %lld: its image (%s) is not readable by the server",
                          (long long)id, row.uri ? row.uri : "?");
            job->srv->cat.clear_row(&row);
            return;
        }
        cdx_vips_init(1, &eb);
        VipsImage *img = NULL;
        void *buf = NULL;
        size_t n = 0;
        if (vips_thumbnail(src, &img, s->p.thumb_size, "height", s->p.thumb_size, NULL) != 0 ||
            vips_jpegsave_buffer(img, &buf, &n, "Q", 82, "strip", TRUE, NULL) != 0) {
            char ve[256];
            cdx_vips_error_take(ve, sizeof ve);
            cdx_job_error(job, 422, "thumbnail_failed", "item %lld: %s", (long long)id, ve);
            if (img)
                g_object_unref(img);
            job->srv->cat.clear_row(&row);
            return;
        }
        g_object_unref(img);
        jpeg = malloc(n);
        if (jpeg)
            memcpy(jpeg, buf, n);
        g_free(buf);
        len = n;
        if (jpeg && cache[0] && write_atomic(cache, jpeg, len) != 0)
            cdx_log_warn("http", "thumbnail cache: cannot write %s: %s", cache, strerror(errno));
    }
    job->srv->cat.clear_row(&row);
    if (!jpeg) {
        cdx_job_error(job, 500, "internal", "out of memory");
        return;
    }
    cdx_job_reply(job, 200, "image/jpeg", jpeg, len);
    job->cache_control = "public, max-age=86400";
}

/* POST /v1/items: {"image": base64, "caption"?: text, "metadata"?: object}. */
void cdx_route_item_upload(cdx_job *job)
{
    cdx_server *s = job->srv;
    if (need_store(job))
        return;
    if (!s->enc || !s->cat.put_image) {
        cdx_job_error(job, 503, "not_ready", "%s",
                      !s->enc ? "the server has no model loaded; see /readyz" : "uploads are not available in this build");
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(job->body ? job->body : "", job->body_len, JSON_REJECT_DUPLICATES, &jerr);
    cdx_arena *a = NULL;
    if (!json_is_object(root)) {
        cdx_job_error(job, 400, "invalid_json", "the body must be a JSON object: %s", root ? "not an object" : jerr.text);
        goto done;
    }
    json_t *img = json_object_get(root, "image"), *cap = json_object_get(root, "caption"),
           *meta = json_object_get(root, "metadata");
    if (json_object_size(root) != (size_t)(!!img + !!cap + !!meta)) {
        cdx_job_error(job, 400, "invalid_field", "POST /v1/items takes image (base64), caption and metadata only");
        goto done;
    }
    if (!json_is_string(img) || (cap && !json_is_string(cap)) || (meta && !json_is_object(meta))) {
        cdx_job_error(job, 400, "invalid_field",
                      "image must be a base64 string, caption a string, metadata a JSON object");
        goto done;
    }
    uint8_t *bytes;
    size_t n;
    if (cdx_arena_init(0, &a) != CDX_OK) {
        cdx_job_error(job, 500, "internal", "out of memory");
        goto done;
    }
    if (cdx_base64_decode(json_string_value(img), json_string_length(img), a, &bytes, &n) != CDX_OK || n == 0) {
        cdx_job_error(job, 400, "bad_base64", "image: not valid base64 (standard alphabet or a data: URL)");
        goto done;
    }
    char hex[CDX_HASH128_HEX_LEN + 1], dir[4200], path[4300], uri[64];
    cdx_hash128_to_hex(cdx_hash128_bytes(bytes, n), hex);
    snprintf(dir, sizeof dir, "%s/uploads", s->p.data_dir ? s->p.data_dir : ".");
    snprintf(path, sizeof path, "%s/%s", dir, hex);
    snprintf(uri, sizeof uri, "upload:%s", hex);
    if (!s->p.data_dir || ensure_dir(dir) != 0 || (access(path, F_OK) != 0 && write_atomic(path, bytes, n) != 0)) {
        cdx_job_error(job, 500, "store_failed", "cannot keep the upload under the data directory: %s", strerror(errno));
        goto done;
    }
    char *meta_text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    cdx_errbuf eb = {0};
    int64_t id = 0;
    cdx_server_encoder_enter(s, CDX_GATE_BATCH);
    int64_t t0 = cdx_clock_ns();
    int rc = s->cat.put_image(s->cat.ctx, s->enc, bytes, n, uri, cap ? json_string_value(cap) : NULL, meta_text, &id,
                                    &eb);
    job->encode_ns = cdx_clock_ns() - t0;
    cdx_server_encoder_leave(s, CDX_GATE_BATCH);
    free(meta_text);
    if (rc == CDX_ERR_DECODE || rc == CDX_ERR_TOOBIG || rc == CDX_ERR_UNSUPPORTED) {
        cdx_job_error(job, rc == CDX_ERR_TOOBIG ? 413 : 422, "image_decode_failed", "%s", cdx_errbuf_msg(&eb));
        /* Bytes that are not an image are never needed again (the dead
         * letter keeps the reason): do not let rejected uploads pile up. */
        unlink(path);
    }
    else if (rc != CDX_OK)
        cdx_job_error(job, 500, "ingest_failed", "%s", cdx_errbuf_msg(&eb));
    else
        cdx_job_json(job, 201, json_pack("{s:I, s:s, s:f}", "id", (json_int_t)id, "uri", uri, "encode_ms",
                                         cdx_ns_to_ms(job->encode_ns)));
done:
    cdx_arena_free(a);
    json_decref(root);
}
