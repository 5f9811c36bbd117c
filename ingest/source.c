/* Sources (see source.h): brace expansion, deciding what each spec is, and
 * walking the expanded list one kind-object at a time. The kinds live in
 * source_dir.c, source_manifest.c and source_tar.c. */
#include "ingest/source.h"

#include "common/escape.h"
#include "common/log.h"
#include "common/util.h"
#include "ingest/source_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

cdx_source_params cdx_source_default_params(void)
{
    return (cdx_source_params){
        .extensions = NULL,
        .max_bytes = (int64_t)128 << 20,
        .max_expansions = 1000000,
        .stat_files = 1,
    };
}

/* ---- items ----------------------------------------------------------------- */

cdx_source_item *cdx_source_item_new(const char *uri, const char *path)
{
    cdx_source_item *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->size = -1;
    it->uri = strdup(uri);
    it->path = path ? strdup(path) : NULL;
    if (!it->uri || (path && !it->path)) {
        cdx_source_item_free(it);
        return NULL;
    }
    return it;
}

cdx_source_item *cdx_source_item_failed(const char *uri, int code, const char *fmt, ...)
{
    cdx_source_item *it = cdx_source_item_new(uri, NULL);
    if (!it)
        return NULL;
    char msg[CDX_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    it->error = code;
    if (!(it->message = strdup(msg))) {
        cdx_source_item_free(it);
        return NULL;
    }
    return it;
}

void cdx_source_item_free(cdx_source_item *it)
{
    if (!it)
        return;
    free(it->uri);
    free(it->path);
    free(it->data);
    free(it->caption);
    free(it->meta_json);
    free(it->message);
    free(it);
}

/* ---- names ----------------------------------------------------------------- */

int cdx_source_ext_match(const char *name, const char *extensions)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    if (!dot || !dot[1])
        return 0;
    const char *ext = dot + 1;
    size_t n = strlen(ext);
    const char *list = extensions ? extensions : CDX_SOURCE_DEFAULT_EXTENSIONS;
    while (*list) {
        while (*list == ',' || *list == ' ' || *list == '.')
            list++;
        size_t k = strcspn(list, ", ");
        if (k == n && strncasecmp(list, ext, n) == 0)
            return 1;
        list += k;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcasecmp(s + n - k, suffix) == 0;
}

int cdx_source_is_tar_name(const char *path)
{
    static const char *const exts[] = {".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2", ".tar.lz4"};
    for (size_t i = 0; i < CDX_ARRAY_LEN(exts); i++)
        if (ends_with(path, exts[i]))
            return 1;
    return 0;
}

int cdx_source_is_manifest_name(const char *path)
{
    static const char *const exts[] = {".txt", ".lst", ".list", ".csv", ".tsv", ".jsonl", ".ndjson", ".json"};
    for (size_t i = 0; i < CDX_ARRAY_LEN(exts); i++)
        if (ends_with(path, exts[i]))
            return 1;
    return 0;
}

char *cdx_path_absolute(const char *path, const char *base)
{
    char cwd[4096];
    if (path[0] != '/' && !base) {
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        base = cwd;
    }
    size_t bn = path[0] == '/' ? 0 : strlen(base), pn = strlen(path);
    char *joined = malloc(bn + pn + 2), *out = malloc(bn + pn + 2);
    if (!joined || !out) {
        free(joined);
        free(out);
        return NULL;
    }
    if (bn)
        memcpy(joined, base, bn);
    joined[bn] = '/';
    memcpy(joined + bn + 1, path, pn + 1);
    /* Walk components; ".." drops the last one written (never above "/"). */
    size_t o = 0;
    for (const char *s = joined; *s;) {
        while (*s == '/')
            s++;
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.')) {
            /* nothing */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, s, n);
            o += n;
        }
        s += n;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    free(joined);
    return out;
}

/* ---- brace expansion --------------------------------------------------------- */

/* One piece of a pattern: a literal, or a group of alternatives. */
typedef struct part {
    const char *lit;
    size_t lit_len;
    /* group: a list (items) or a range (lo..hi, width for zero padding) */
    int is_group, is_range;
    const char **items;
    size_t *item_lens;
    size_t n;        /* alternatives */
    long long lo;
    int step, width;
} part;

static int parse_int(const char *s, size_t n, long long *v, int *padded)
{
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    if (i == n || n - i > 15)
        return 0;
    for (size_t k = i; k < n; k++)
        if (!isdigit((unsigned char)s[k]))
            return 0;
    *padded = s[i] == '0' && n - i > 1;
    char tmp[20];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *v = strtoll(tmp, NULL, 10);
    return 1;
}

/* Tries to read the group body [s, e) as a range or a list. 1 when it is one. */
static int parse_group(const char *s, const char *e, part *g)
{
    const char *dots = NULL;
    for (const char *q = s; q + 1 < e; q++)
        if (q[0] == '.' && q[1] == '.') {
            dots = q;
            break;
        }
    if (dots) {
        long long a, b;
        int pa, pb;
        if (parse_int(s, (size_t)(dots - s), &a, &pa) && parse_int(dots + 2, (size_t)(e - dots - 2), &b, &pb)) {
            g->is_group = g->is_range = 1;
            g->lo = a;
            g->step = a <= b ? 1 : -1;
            g->n = (size_t)(a <= b ? b - a : a - b) + 1;
            size_t wa = (size_t)(dots - s), wb = (size_t)(e - dots - 2);
            g->width = pa || pb ? (int)(wa > wb ? wa : wb) : 0;
            return 1;
        }
        return 0;
    }
    size_t commas = 0;
    for (const char *q = s; q < e; q++)
        commas += *q == ',';
    if (commas == 0)
        return 0;
    g->is_group = 1;
    g->n = commas + 1;
    g->items = calloc(g->n, sizeof *g->items);
    g->item_lens = calloc(g->n, sizeof *g->item_lens);
    if (!g->items || !g->item_lens)
        return -1;
    size_t k = 0;
    for (const char *q = s;; k++) {
        const char *c = memchr(q, ',', (size_t)(e - q));
        g->items[k] = q;
        g->item_lens[k] = (size_t)((c ? c : e) - q);
        if (!c)
            break;
        q = c + 1;
    }
    return 1;
}

void cdx_brace_free(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

int cdx_brace_expand(const char *pattern, size_t max, char ***out, size_t *n_out, cdx_errbuf *eb)
{
    *out = NULL;
    *n_out = 0;
    size_t plen = strlen(pattern), n_parts = 0, total = 1;
    part *parts = calloc(plen + 1, sizeof *parts); /* at most one part per byte, plus one */
    char **list = NULL;
    int rc = CDX_OK;
    if (!parts)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "brace expansion: out of memory");
    const char *lit = pattern;
    for (const char *s = pattern; *s;) {
        const char *close = *s == '{' ? strchr(s + 1, '}') : NULL;
        const char *inner = close ? memchr(s + 1, '{', (size_t)(close - s - 1)) : NULL;
        part g = {0};
        int r = close && !inner ? parse_group(s + 1, close, &g) : 0;
        if (r < 0) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "brace expansion: out of memory");
            free(g.items);
            free(g.item_lens);
            goto done;
        }
        if (r == 0) {
            s++;
            continue;
        }
        if (s > lit)
            parts[n_parts++] = (part){.lit = lit, .lit_len = (size_t)(s - lit)};
        parts[n_parts++] = g;
        if (g.n > max || total > max / g.n) {
            rc = cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "'%s' expands to more than %zu names; split it", pattern, max);
            goto done;
        }
        total *= g.n;
        s = close + 1;
        lit = s;
    }
    if (*lit)
        parts[n_parts++] = (part){.lit = lit, .lit_len = strlen(lit)};
    if (!(list = calloc(total + 1, sizeof *list))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "brace expansion: out of memory");
        goto done;
    }
    /* Mixed-radix counter over the groups, the last group varying fastest. */
    size_t *idx = calloc(n_parts + 1, sizeof *idx);
    if (!idx) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "brace expansion: out of memory");
        goto done;
    }
    for (size_t k = 0; k < total && rc == CDX_OK; k++) {
        size_t cap = plen + 64 * n_parts + 1, o = 0;
        char *name = malloc(cap);
        if (!name) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "brace expansion: out of memory");
            break;
        }
        for (size_t i = 0; i < n_parts; i++) {
            const part *p = &parts[i];
            if (!p->is_group) {
                memcpy(name + o, p->lit, p->lit_len);
                o += p->lit_len;
            } else if (p->is_range) {
                long long v = p->lo + (long long)p->step * (long long)idx[i];
                int neg = v < 0;
                o += (size_t)snprintf(name + o, cap - o, "%s%0*lld", neg ? "-" : "", neg && p->width ? p->width - 1 : p->width,
                                      neg ? -v : v);
            } else {
                memcpy(name + o, p->items[idx[i]], p->item_lens[idx[i]]);
                o += p->item_lens[idx[i]];
            }
        }
        name[o] = '\0';
        list[k] = name;
        for (size_t i = n_parts; i-- > 0;) {
            if (!parts[i].is_group)
                continue;
            if (++idx[i] < parts[i].n)
                break;
            idx[i] = 0;
        }
    }
    free(idx);
    if (rc == CDX_OK) {
        *out = list;
        *n_out = total;
        list = NULL;
    }
done:
    cdx_brace_free(list);
    for (size_t i = 0; i < n_parts; i++) {
        free(parts[i].items);
        free(parts[i].item_lens);
    }
    free(parts);
    return rc;
}

/* ---- the list of sources ------------------------------------------------------ */

enum spec_kind { SPEC_DIR, SPEC_MANIFEST, SPEC_TAR, SPEC_FILE };

typedef struct spec {
    char *path;
    enum spec_kind kind;
    int64_t bytes; /* tar shards: file size, for progress */
} spec;

struct cdx_source {
    cdx_source_params params;
    char *extensions;
    spec *specs;
    size_t n_specs, cap_specs, cur;
    const cdx_source_kind *kind;
    void *impl;
    int64_t tar_done_bytes, tar_total_bytes;
};

/* A file that is neither a tar nor a manifest by name: text is a manifest,
 * anything else one image. */
static enum spec_kind sniff_file(const char *path)
{
    unsigned char head[512];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return SPEC_FILE; /* reading it will say why */
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    if (n <= 0)
        return SPEC_FILE;
    for (ssize_t i = 0; i < n; i++)
        if (head[i] == 0 || (head[i] < 0x20 && head[i] != '\n' && head[i] != '\r' && head[i] != '\t'))
            return SPEC_FILE;
    return SPEC_MANIFEST;
}

static int add_spec(cdx_source *s, const char *path, int *stdin_seen, cdx_errbuf *eb)
{
    char shown[512];
    spec sp = {0};
    if (strcmp(path, "-") == 0) {
        if ((*stdin_seen)++)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "source '-' (standard input) given twice");
        sp.kind = SPEC_MANIFEST;
    } else {
        struct stat st;
        if (stat(path, &st) != 0)
            return cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO,
                                  "source %s: %s; give a directory, a manifest, a tar shard or an image",
                                  cdx_escape_name(path, shown, sizeof shown), strerror(errno));
        if (S_ISDIR(st.st_mode))
            sp.kind = SPEC_DIR;
        else if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
            return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "source %s: not a regular file or directory",
                                  cdx_escape_name(path, shown, sizeof shown));
        else if (cdx_source_is_tar_name(path))
            sp.kind = SPEC_TAR, sp.bytes = (int64_t)st.st_size;
        else if (cdx_source_is_manifest_name(path) || S_ISFIFO(st.st_mode))
            sp.kind = SPEC_MANIFEST;
        else if (cdx_source_ext_match(path, CDX_SOURCE_DEFAULT_EXTENSIONS))
            sp.kind = SPEC_FILE;
        else
            sp.kind = sniff_file(path);
    }
    if (s->n_specs == s->cap_specs) {
        size_t cap = s->cap_specs ? s->cap_specs * 2 : 8;
        spec *p = realloc(s->specs, cap * sizeof *p);
        if (!p)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
        s->specs = p, s->cap_specs = cap;
    }
    if (!(sp.path = strdup(path)))
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    s->specs[s->n_specs++] = sp;
    s->tar_total_bytes += sp.bytes;
    return CDX_OK;
}

int cdx_source_open(const char *const *specs, int32_t n, const cdx_source_params *p, cdx_source **out,
                    cdx_errbuf *eb)
{
    *out = NULL;
    cdx_source *s = calloc(1, sizeof *s);
    if (!s)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    s->params = p ? *p : cdx_source_default_params();
    int rc = CDX_OK, stdin_seen = 0;
    if (s->params.extensions && !(s->extensions = strdup(s->params.extensions)))
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    s->params.extensions = s->extensions;
    size_t budget = s->params.max_expansions;
    for (int32_t i = 0; i < n && rc == CDX_OK; i++) {
        char **list = NULL;
        size_t k = 0;
        if (s->params.literal) {
            rc = add_spec(s, specs[i], &stdin_seen, eb);
            continue;
        }
        rc = cdx_brace_expand(specs[i], budget, &list, &k, eb);
        for (size_t j = 0; j < k && rc == CDX_OK; j++)
            rc = add_spec(s, list[j], &stdin_seen, eb);
        budget = budget > k ? budget - k : 1;
        cdx_brace_free(list);
    }
    if (rc != CDX_OK) {
        cdx_source_close(s);
        return rc;
    }
    *out = s;
    return CDX_OK;
}

void cdx_source_close(cdx_source *s)
{
    if (!s)
        return;
    if (s->kind)
        s->kind->close(s->impl);
    for (size_t i = 0; i < s->n_specs; i++)
        free(s->specs[i].path);
    free(s->specs);
    free(s->extensions);
    free(s);
}

/* A single image given on the command line. */
static int open_file_item(const char *path, cdx_source_item **out, cdx_errbuf *eb)
{
    char *abs = cdx_path_absolute(path, NULL);
    struct stat st;
    *out = abs ? cdx_source_item_new(abs, abs) : NULL;
    free(abs);
    if (!*out)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    if (stat(path, &st) == 0) {
        (*out)->size = (int64_t)st.st_size;
        (*out)->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    return 1;
}

int cdx_source_next(cdx_source *s, cdx_source_item **out, cdx_errbuf *eb)
{
    *out = NULL;
    for (;;) {
        if (s->kind) {
            int r = s->kind->next(s->impl, out, eb);
            if (r != 0)
                return r;
            if (s->kind == &cdx_source_tar_kind)
                s->tar_done_bytes += s->specs[s->cur - 1].bytes;
            s->kind->close(s->impl);
            s->kind = NULL, s->impl = NULL;
        }
        if (s->cur == s->n_specs)
            return 0;
        const spec *sp = &s->specs[s->cur++];
        int rc = CDX_OK;
        switch (sp->kind) {
        case SPEC_FILE: return open_file_item(sp->path, out, eb);
        case SPEC_DIR:
            rc = cdx_source_dir_open(sp->path, &s->params, &s->impl, eb);
            s->kind = &cdx_source_dir_kind;
            break;
        case SPEC_MANIFEST:
            rc = cdx_source_manifest_open(sp->path, &s->params, &s->impl, eb);
            s->kind = &cdx_source_manifest_kind;
            break;
        case SPEC_TAR:
            rc = cdx_source_tar_open(sp->path, &s->params, &s->impl, eb);
            s->kind = &cdx_source_tar_kind;
            break;
        }
        if (rc != CDX_OK) {
            s->kind = NULL;
            return rc;
        }
    }
}

void cdx_source_tar_progress(cdx_source *s, int64_t *done_bytes, int64_t *total_bytes)
{
    *done_bytes = s->tar_done_bytes + (s->kind == &cdx_source_tar_kind ? cdx_source_tar_consumed(s->impl) : 0);
    *total_bytes = s->tar_total_bytes;
}

int64_t cdx_source_count(const char *const *specs, int32_t n, const cdx_source_params *p, double bytes_per_item,
                         int32_t *estimated, const volatile int *stop)
{
    cdx_source_params q = p ? *p : cdx_source_default_params();
    q.stat_files = 0;
    q.quiet = 1;
    cdx_source *s = NULL;
    cdx_errbuf eb = {0};
    *estimated = 0;
    if (cdx_source_open(specs, n, &q, &s, &eb) != CDX_OK)
        return -1;
    int64_t total = 0;
    size_t kept = 0;
    for (size_t i = 0; i < s->n_specs; i++) {
        /* Standard input can be read once; shards are not read twice (their
         * items are estimated from their size, when an item's size is known). */
        if (strcmp(s->specs[i].path, "-") == 0 || (s->specs[i].kind == SPEC_TAR && !(bytes_per_item > 0))) {
            total = -1;
            goto done;
        }
    }
    for (size_t i = 0; i < s->n_specs; i++) {
        if (s->specs[i].kind != SPEC_TAR) {
            s->specs[kept++] = s->specs[i];
            continue;
        }
        *estimated = 1;
        total += (int64_t)((double)s->specs[i].bytes / bytes_per_item + 0.5);
        free(s->specs[i].path);
    }
    s->n_specs = kept;
    while (!(stop && *stop)) {
        cdx_source_item *it = NULL;
        if (cdx_source_next(s, &it, &eb) <= 0)
            break;
        total += it->error == CDX_OK;
        cdx_source_item_free(it);
    }
done:
    cdx_source_close(s);
    return total;
}
