/* Process-wide libvips setup for untrusted input (vips_env.h): init once,
 * loader allowlist, no operation cache, thread count, error buffer and log
 * routing. */
#include "encoder/vips_env.h"

#include "common/log.h"
#include "common/util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <vips/vips.h>

/* Loader base classes clipdex decodes with, and the format name it reports.
 * Everything else derived from VipsForeignLoad is blocked. */
static const struct {
    const char *class_prefix;
    const char *format;
} allowed_loaders[] = {
    {"VipsForeignLoadJpeg", "jpeg"}, {"VipsForeignLoadPng", "png"},   {"VipsForeignLoadWebp", "webp"},
    {"VipsForeignLoadTiff", "tiff"}, {"VipsForeignLoadNsgif", "gif"}, {"VipsForeignLoadGif", "gif"},
    {"VipsForeignLoadHeif", "heif"}, {"VipsForeignLoadJxl", "jxl"},
};

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static int vips_init_failed;
static char vips_init_error[256];

static void vips_log_handler(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
    (void)data;
    (void)level;
    cdx_log_debug("vips", "%s: %s", domain ? domain : "glib", message ? message : "");
}

static void vips_setup(void)
{
    if (VIPS_INIT("clipdex") != 0) {
        cdx_vips_error_take(vips_init_error, sizeof vips_init_error);
        vips_init_failed = 1;
        return;
    }
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    for (size_t i = 0; i < CDX_ARRAY_LEN(allowed_loaders); i++)
        if (g_type_from_name(allowed_loaders[i].class_prefix))
            vips_operation_block_set(allowed_loaders[i].class_prefix, FALSE);
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG,
                      vips_log_handler, NULL);
    cdx_log_debug("vips", "libvips %s ready: untrusted loaders blocked, cache off", vips_version_string());
}

int cdx_vips_init(int concurrency, cdx_errbuf *eb)
{
    pthread_once(&vips_once, vips_setup);
    if (vips_init_failed)
        return cdx_errbuf_set(eb, CDX_ERR_INTERNAL, "libvips failed to start: %s",
                              vips_init_error[0] ? vips_init_error : "no reason given");
    vips_concurrency_set(concurrency > 0 ? concurrency : 1);
    return CDX_OK;
}

const char *cdx_vips_error_take(char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return buf;
    char *text = vips_error_buffer_copy(); /* copies and clears */
    size_t o = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    /* One line per message, "; " between them; libvips often says the same
     * thing twice in a row, once is enough. */
    for (const char *s = text ? text : ""; *s;) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n > 0 && !(prev && n == prev_len && memcmp(s, prev, n) == 0)) {
            if (o > 0 && o + 2 < cap)
                buf[o++] = ';', buf[o++] = ' ';
            for (size_t i = 0; i < n && o + 1 < cap; i++)
                buf[o++] = (char)((unsigned char)s[i] < 0x20 ? ' ' : s[i]);
            prev = s, prev_len = n;
        }
        s += n + (e ? 1 : 0);
    }
    while (o > 0 && (buf[o - 1] == ' ' || buf[o - 1] == ';'))
        o--;
    buf[o] = '\0';
    g_free(text);
    return buf;
}

void cdx_vips_error_drop(void) { vips_error_clear(); }

const char *cdx_vips_allowed_format(const char *loader_class)
{
    if (!loader_class)
        return NULL;
    for (size_t i = 0; i < CDX_ARRAY_LEN(allowed_loaders); i++) {
        size_t n = strlen(allowed_loaders[i].class_prefix);
        const char *rest = loader_class + n;
        /* Exact family match: "VipsForeignLoadJpeg" + "Source"/"File"/"Buffer"/"". */
        if (strncmp(loader_class, allowed_loaders[i].class_prefix, n) == 0 &&
            (*rest == '\0' || strcmp(rest, "Source") == 0 || strcmp(rest, "File") == 0 ||
             strcmp(rest, "Buffer") == 0))
            return allowed_loaders[i].format;
    }
    return NULL;
}

const char *cdx_vips_loader_short_name(const char *loader_class, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return buf;
    const char *s = loader_class ? loader_class : "unknown";
    const char *prefix = "VipsForeignLoad";
    if (strncmp(s, prefix, strlen(prefix)) == 0)
        s += strlen(prefix);
    size_t n = strlen(s);
    const char *suffixes[] = {"Source", "File", "Buffer"};
    for (size_t i = 0; i < CDX_ARRAY_LEN(suffixes); i++) {
        size_t m = strlen(suffixes[i]);
        if (n > m && strcmp(s + n - m, suffixes[i]) == 0) {
            n -= m;
            break;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++)
        buf[o++] = (char)tolower((unsigned char)s[i]);
    buf[o] = '\0';
    return buf;
}

const char *cdx_vips_version_string(void) { return vips_version_string(); }
