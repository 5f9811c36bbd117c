/* Manifest source: rows of a manifest file (or standard input) as items.
 * Relative paths resolve against the manifest's directory (standard input:
 * the working directory); file:// URIs become paths; other URI schemes are
 * items that fail at once, since clipdex fetches nothing at run time. */
#include "common/escape.h"
#include "ingest/manifest.h"
#include "ingest/source_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct manifest_src {
    FILE *f;
    int own_f;
    char *label;    /* the manifest as named in failures' uris: an absolute path, or "<stdin>" */
    char *base;     /* directory relative paths resolve against; NULL: the working directory */
    cdx_manifest *m;
} manifest_src;

static void manifest_close(void *impl)
{
    manifest_src *s = impl;
    if (!s)
        return;
    cdx_manifest_close(s->m);
    if (s->own_f && s->f)
        fclose(s->f);
    free(s->label);
    free(s->base);
    free(s);
}

int cdx_source_manifest_open(const char *spec, const cdx_source_params *p, void **impl, cdx_errbuf *eb)
{
    (void)p;
    char shown[512];
    manifest_src *s = calloc(1, sizeof *s);
    int rc = CDX_OK, is_stdin = strcmp(spec, "-") == 0;
    *impl = NULL;
    if (!s)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    if (is_stdin) {
        s->f = stdin;
        s->label = strdup("<stdin>");
    } else {
        s->own_f = 1;
        s->f = fopen(spec, "rb");
        s->label = cdx_path_absolute(spec, NULL);
        if (s->label) {
            char *slash = strrchr(s->label, '/');
            s->base = strndup(s->label, slash == s->label ? 1 : (size_t)(slash - s->label));
        }
    }
    if (!s->f)
        rc = cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO, "manifest %s: %s",
                            cdx_escape_name(spec, shown, sizeof shown), strerror(errno));
    else if (!s->label || (!is_stdin && !s->base))
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    else
        rc = cdx_manifest_open(s->f, s->label, CDX_MANIFEST_FORMAT_AUTO, &s->m, eb);
    if (rc != CDX_OK)
        manifest_close(s);
    else
        *impl = s;
    return rc;
}

/* "scheme://" at the start of uri: its length, else 0. */
static size_t scheme_len(const char *uri)
{
    if (!isalpha((unsigned char)uri[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)uri[i]) || uri[i] == '+' || uri[i] == '-' || uri[i] == '.')
        i++;
    return strncmp(uri + i, "://", 3) == 0 ? i + 3 : 0;
}

/* file:// URI -> path, with %XX decoded. */
static char *file_uri_path(const char *uri)
{
    const char *p = uri + 7;
    if (strncmp(p, "localhost/", 10) == 0)
        p += 9;
    char *out = malloc(strlen(p) + 1), *o = out;
    if (!out)
        return NULL;
    for (; *p; p++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            char c = (char)strtol(hex, NULL, 16);
            if (c == '\0') { /* a NUL cannot be in a path: keep it encoded */
                *o++ = *p;
                continue;
            }
            *o++ = c;
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static int item_from_row(manifest_src *s, const cdx_manifest_row *row, cdx_source_item **out)
{
    size_t sl = scheme_len(row->uri);
    char *path = NULL;
    if (sl && strncmp(row->uri, "file://", 7) != 0) {
        *out = cdx_source_item_failed(row->uri, CDX_ERR_UNSUPPORTED,
                                      "%s:%lld: remote URIs are not fetched (clipdex downloads nothing); download "
                                      "the files and list their local paths",
                                      s->label, (long long)row->line);
        return *out ? 1 : CDX_ERR_NOMEM;
    }
    char *local = sl ? file_uri_path(row->uri) : NULL;
    if (sl && !local)
        return CDX_ERR_NOMEM;
    path = cdx_path_absolute(local ? local : row->uri, s->base);
    free(local);
    if (!path)
        return CDX_ERR_NOMEM;
    *out = cdx_source_item_new(path, path);
    free(path);
    if (!*out)
        return CDX_ERR_NOMEM;
    if ((row->caption && !((*out)->caption = strdup(row->caption))) ||
        (row->meta_json && !((*out)->meta_json = strdup(row->meta_json)))) {
        cdx_source_item_free(*out);
        *out = NULL;
        return CDX_ERR_NOMEM;
    }
    return 1;
}

static int manifest_next(void *impl, cdx_source_item **out, cdx_errbuf *eb)
{
    manifest_src *s = impl;
    cdx_manifest_row row;
    cdx_errbuf rowerr = {0};
    int r = cdx_manifest_next(s->m, &row, &rowerr);
    if (r == 1)
        r = item_from_row(s, &row, out);
    else if (r == CDX_ERR_PARSE || r == CDX_ERR_TOOBIG) {
        /* A bad row is the row's failure, keyed by where it is. */
        char uri[4200];
        snprintf(uri, sizeof uri, "%s:%lld", s->label, (long long)cdx_manifest_row_line(s->m));
        *out = cdx_source_item_failed(uri, r, "%s", cdx_errbuf_msg(&rowerr));
        r = *out ? 1 : CDX_ERR_NOMEM;
    } else if (r < 0) {
        *eb = rowerr;
        return r;
    }
    if (r == CDX_ERR_NOMEM)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    return r;
}

const cdx_source_kind cdx_source_manifest_kind = {"manifest", manifest_next, manifest_close};
