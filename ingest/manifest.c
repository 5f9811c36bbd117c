/* Manifest parser (see manifest.h): lines, CSV/TSV with a header, JSON lines.
 * Used by the manifest source; fuzzed by tests/fuzz/fuzz_manifest.c. Reads
 * through a small pushback buffer so the first line can be sniffed and then
 * parsed like any other. Rows are bounded (16 MiB); a bad row is skipped
 * with its line number, never the rest of the file. */
#include "ingest/manifest.h"

#include "common/util.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ROW_MAX ((size_t)16 << 20)
#define MAX_COLUMNS 4096

static const char *const uri_names[] = {"uri", "path", "url", "file", "filepath", "filename", "image", "image_path"};
static const char *const caption_names[] = {"caption", "text", "title"};

/* A growable byte buffer that refuses to grow past ROW_MAX. */
typedef struct buf {
    char *p;
    size_t len, cap;
    int over; /* 1 once a byte was dropped for the limit */
} buf;

static int buf_put(buf *b, char c)
{
    if (b->len + 1 >= ROW_MAX) {
        b->over = 1;
        return CDX_OK;
    }
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        char *p = realloc(b->p, cap);
        if (!p)
            return CDX_ERR_NOMEM;
        b->p = p, b->cap = cap;
    }
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
    return CDX_OK;
}

static void buf_reset(buf *b)
{
    b->len = 0, b->over = 0;
    if (b->p)
        b->p[0] = '\0';
}

struct cdx_manifest {
    FILE *f;
    char *name;
    enum cdx_manifest_format format;
    int64_t line;        /* newlines consumed */
    int64_t row_line;    /* where the last row started */
    char *pending;       /* pushed-back bytes, read before f */
    size_t pending_len, pending_pos;
    int io_error;
    /* CSV/TSV header */
    int32_t n_cols, uri_col, caption_col;
    char **cols;
    /* current record */
    buf rec;             /* CSV: the fields' bytes, each NUL-terminated */
    size_t *field_off, *field_len;
    int32_t n_fields, fields_cap;
    /* current row's strings */
    char *uri, *caption, *meta;
};

static int mgetc(cdx_manifest *m)
{
    if (m->pending_pos < m->pending_len)
        return (unsigned char)m->pending[m->pending_pos++];
    int c = getc(m->f);
    if (c == EOF && ferror(m->f))
        m->io_error = 1;
    return c;
}

/* Reads one line (without its '\n') into b. 0 at EOF with nothing read, else 1. */
static int read_line(cdx_manifest *m, buf *b)
{
    buf_reset(b);
    int c, any = 0;
    while ((c = mgetc(m)) != EOF) {
        any = 1;
        if (c == '\n') {
            m->line++;
            break;
        }
        if (buf_put(b, (char)c) != CDX_OK)
            return CDX_ERR_NOMEM;
    }
    if (b->len && b->p[b->len - 1] == '\r')
        b->p[--b->len] = '\0';
    return any;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return c ? 1 : 0;
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (len == 0 || c > 0xf4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (len == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
        return 0; /* overlong; surrogate */
    if (len == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
        return 0; /* overlong; > U+10FFFF */
    return len;
}

/* A copy of s[0..n) as valid UTF-8: invalid bytes and NULs become U+FFFD. */
static char *utf8_clean(const char *s, size_t n)
{
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k) {
            memcpy(o, s + i, k);
            o += k, i += k;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3, i++;
        }
    }
    *o = '\0';
    return out;
}

/* ---- opening and sniffing --------------------------------------------------- */

static int name_in(const char *s, size_t n, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0)
            return 1;
    return 0;
}

static enum cdx_manifest_format format_from_name(const char *name)
{
    static const struct {
        const char *ext;
        enum cdx_manifest_format format;
    } exts[] = {{".csv", CDX_MANIFEST_FORMAT_CSV},     {".tsv", CDX_MANIFEST_FORMAT_TSV},
                {".jsonl", CDX_MANIFEST_FORMAT_JSONL}, {".ndjson", CDX_MANIFEST_FORMAT_JSONL},
                {".json", CDX_MANIFEST_FORMAT_JSONL}};
    size_t n = name ? strlen(name) : 0;
    for (size_t i = 0; i < CDX_ARRAY_LEN(exts); i++) {
        size_t e = strlen(exts[i].ext);
        if (n > e && strcasecmp(name + n - e, exts[i].ext) == 0)
            return exts[i].format;
    }
    return CDX_MANIFEST_FORMAT_AUTO;
}

/* Does a first line look like a CSV/TSV header naming a uri column? */
static enum cdx_manifest_format sniff_header(const char *line)
{
    static const char seps[] = {',', '\t'};
    for (size_t k = 0; k < sizeof seps; k++) {
        if (!strchr(line, seps[k]))
            continue;
        for (const char *s = line; *s;) {
            const char *e = strchr(s, seps[k]);
            size_t n = e ? (size_t)(e - s) : strlen(s);
            const char *f = s;
            size_t fn = n;
            while (fn && isspace((unsigned char)*f))
                f++, fn--;
            while (fn && isspace((unsigned char)f[fn - 1]))
                fn--;
            if (fn >= 2 && f[0] == '"' && f[fn - 1] == '"')
                f++, fn -= 2;
            if (name_in(f, fn, uri_names, CDX_ARRAY_LEN(uri_names)))
                return seps[k] == ',' ? CDX_MANIFEST_FORMAT_CSV : CDX_MANIFEST_FORMAT_TSV;
            if (!e)
                break;
            s = e + 1;
        }
    }
    return CDX_MANIFEST_FORMAT_LINES;
}

/* Reads the first non-empty line, decides the format, and pushes what was
 * read back so parsing starts from the top. */
static int sniff(cdx_manifest *m)
{
    buf b = {0};
    size_t start = 0;
    int rc = CDX_OK;
    buf raw = {0}; /* every byte consumed, to push back */
    int c;
    while ((c = mgetc(m)) != EOF) {
        if ((rc = buf_put(&raw, (char)c)) != CDX_OK)
            goto done;
        if (raw.over)
            break;
        if (c != '\n')
            continue;
        size_t len = raw.len - 1 - start;
        if (len > 0 && !(len == 1 && raw.p[start] == '\r'))
            break;
        start = raw.len;
    }
    if (raw.over) { /* a first line over the row limit: the lines parser reports it */
        m->format = CDX_MANIFEST_FORMAT_LINES;
    } else {
        for (size_t i = start; i < raw.len && raw.p[i] != '\n'; i++)
            if ((rc = buf_put(&b, raw.p[i])) != CDX_OK)
                goto done;
        const char *first = b.p ? b.p : "";
        if (strncmp(first, "\xef\xbb\xbf", 3) == 0)
            first += 3;
        while (*first == ' ' || *first == '\t')
            first++;
        m->format = *first == '{' ? CDX_MANIFEST_FORMAT_JSONL : sniff_header(first);
    }
    m->pending = raw.p, m->pending_len = raw.len, m->pending_pos = 0;
    raw.p = NULL;
done:
    free(raw.p);
    free(b.p);
    return rc;
}

static int parse_header(cdx_manifest *m, cdx_errbuf *eb);

int cdx_manifest_open(FILE *f, const char *name, enum cdx_manifest_format format, cdx_manifest **out,
                      cdx_errbuf *eb)
{
    *out = NULL;
    cdx_manifest *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(name ? name : "<manifest>"))) {
        free(m);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "manifest: out of memory");
    }
    m->f = f;
    m->uri_col = m->caption_col = -1;
    m->format = format != CDX_MANIFEST_FORMAT_AUTO ? format : format_from_name(name);
    int rc = m->format == CDX_MANIFEST_FORMAT_AUTO ? sniff(m) : CDX_OK;
    if (rc == CDX_OK && (m->format == CDX_MANIFEST_FORMAT_CSV || m->format == CDX_MANIFEST_FORMAT_TSV))
        rc = parse_header(m, eb);
    else if (rc != CDX_OK)
        cdx_errbuf_set(eb, rc, "manifest %s: out of memory", m->name);
    if (rc != CDX_OK) {
        cdx_manifest_close(m);
        return rc;
    }
    *out = m;
    return CDX_OK;
}

void cdx_manifest_close(cdx_manifest *m)
{
    if (!m)
        return;
    for (int32_t i = 0; i < m->n_cols; i++)
        free(m->cols[i]);
    free(m->cols);
    free(m->rec.p);
    free(m->field_off);
    free(m->field_len);
    free(m->pending);
    free(m->uri);
    free(m->caption);
    free(m->meta);
    free(m->name);
    free(m);
}

enum cdx_manifest_format cdx_manifest_get_format(const cdx_manifest *m) { return m->format; }
int64_t cdx_manifest_row_line(const cdx_manifest *m) { return m->row_line; }

const char *cdx_manifest_format_name(enum cdx_manifest_format f)
{
    static const char *const names[] = {"auto", "lines", "csv", "tsv", "jsonl"};
    return (unsigned)f < CDX_ARRAY_LEN(names) ? names[f] : "?";
}

/* ---- CSV / TSV records ----------------------------------------------------- */

static int end_field(cdx_manifest *m, size_t start)
{
    if (m->n_fields == m->fields_cap) {
        int32_t cap = m->fields_cap ? m->fields_cap * 2 : 16;
        size_t *off = realloc(m->field_off, (size_t)cap * sizeof *off);
        if (off)
            m->field_off = off;
        size_t *len = realloc(m->field_len, (size_t)cap * sizeof *len);
        if (len)
            m->field_len = len;
        if (!off || !len)
            return CDX_ERR_NOMEM;
        m->fields_cap = cap;
    }
    m->field_off[m->n_fields] = start;
    m->field_len[m->n_fields] = m->rec.len - start;
    m->n_fields++;
    return buf_put(&m->rec, '\0');
}

/* Reads one record into rec/fields. 0 at EOF with nothing read, 1 with a
 * record, CDX_ERR_PARSE for an unterminated quote, CDX_ERR_NOMEM. */
static int read_record(cdx_manifest *m)
{
    buf_reset(&m->rec);
    m->n_fields = 0;
    int tsv = m->format == CDX_MANIFEST_FORMAT_TSV;
    char sep = tsv ? '\t' : ',';
    int c = mgetc(m), rc = CDX_OK, quoted = 0, any = c != EOF;
    size_t start = 0;
    if (!any)
        return 0;
    for (;; c = mgetc(m)) {
        if (quoted) {
            if (c == EOF)
                return CDX_ERR_PARSE;
            if (c == '"') {
                int d = mgetc(m);
                if (d == '"') {
                    rc = buf_put(&m->rec, '"');
                } else {
                    quoted = 0;
                    if (d == EOF)
                        break;
                    /* Lenient: bytes after the closing quote belong to the field. */
                    c = d;
                    goto unquoted;
                }
            } else {
                if (c == '\n')
                    m->line++;
                rc = buf_put(&m->rec, (char)c);
            }
            if (rc != CDX_OK)
                return rc;
            continue;
        }
    unquoted:
        if (c == EOF)
            break;
        if (c == '\n') {
            m->line++;
            break;
        }
        if (c == sep) {
            if ((rc = end_field(m, start)) != CDX_OK)
                return rc;
            start = m->rec.len;
        } else if (c == '"' && !tsv && m->rec.len == start) {
            quoted = 1;
        } else if ((rc = buf_put(&m->rec, (char)c)) != CDX_OK) {
            return rc;
        }
    }
    if ((rc = end_field(m, start)) != CDX_OK)
        return rc;
    /* A CR before the record's newline is not data. */
    size_t *last = &m->field_len[m->n_fields - 1];
    if (*last && m->rec.p[m->field_off[m->n_fields - 1] + *last - 1] == '\r')
        m->rec.p[m->field_off[m->n_fields - 1] + --*last] = '\0';
    return 1;
}

static const char *field(const cdx_manifest *m, int32_t i) { return m->rec.p + m->field_off[i]; }

static int parse_header(cdx_manifest *m, cdx_errbuf *eb)
{
    int r;
    do {
        r = read_record(m);
    } while (r == 1 && m->n_fields == 1 && m->field_len[0] == 0);
    if (r == CDX_ERR_NOMEM)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "manifest %s: out of memory", m->name);
    if (r != 1 || m->rec.over)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "manifest %s: %s", m->name,
                              r == 0 ? "empty: a CSV manifest needs a header row naming a uri column"
                                     : "the header row is unterminated or too long");
    if (m->n_fields > MAX_COLUMNS)
        return cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "manifest %s: %d columns (the limit is %d)", m->name, m->n_fields,
                              MAX_COLUMNS);
    if (!(m->cols = calloc((size_t)m->n_fields, sizeof *m->cols)))
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "manifest %s: out of memory", m->name);
    m->n_cols = m->n_fields;
    for (int32_t i = 0; i < m->n_fields; i++) {
        const char *f = field(m, i);
        size_t n = m->field_len[i];
        if (i == 0 && n >= 3 && memcmp(f, "\xef\xbb\xbf", 3) == 0)
            f += 3, n -= 3;
        while (n && isspace((unsigned char)*f))
            f++, n--;
        while (n && isspace((unsigned char)f[n - 1]))
            n--;
        if (!(m->cols[i] = utf8_clean(f, n)))
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "manifest %s: out of memory", m->name);
        if (m->uri_col < 0 && name_in(f, n, uri_names, CDX_ARRAY_LEN(uri_names)))
            m->uri_col = i;
        else if (m->caption_col < 0 && name_in(f, n, caption_names, CDX_ARRAY_LEN(caption_names)))
            m->caption_col = i;
    }
    if (m->uri_col < 0)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE,
                              "manifest %s: the header row names no uri column; name one of uri, path, url, file, "
                              "filepath, filename, image, image_path",
                              m->name);
    return CDX_OK;
}

/* ---- rows ------------------------------------------------------------------ */

static int set_string(char **dst, const char *s, size_t n, int clean)
{
    free(*dst);
    *dst = NULL;
    if (!s)
        return CDX_OK;
    if (clean) {
        *dst = utf8_clean(s, n);
    } else if ((*dst = malloc(n + 1))) {
        memcpy(*dst, s, n);
        (*dst)[n] = '\0';
    }
    return *dst ? CDX_OK : CDX_ERR_NOMEM;
}

static int set_meta(cdx_manifest *m, json_t *obj)
{
    free(m->meta);
    m->meta = NULL;
    if (!obj || json_object_size(obj) == 0)
        return CDX_OK;
    m->meta = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return m->meta ? CDX_OK : CDX_ERR_NOMEM;
}

static int csv_row(cdx_manifest *m, cdx_manifest_row *row, int64_t first_line, cdx_errbuf *eb)
{
    if (m->n_fields > m->n_cols)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "manifest %s:%lld: %d fields, the header has %d", m->name,
                              (long long)first_line, m->n_fields, m->n_cols);
    const char *uri = m->uri_col < m->n_fields ? field(m, m->uri_col) : "";
    size_t uri_len = m->uri_col < m->n_fields ? m->field_len[m->uri_col] : 0;
    if (uri_len == 0)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "manifest %s:%lld: the %s column is empty", m->name,
                              (long long)first_line, m->cols[m->uri_col]);
    if (strlen(uri) != uri_len)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "manifest %s:%lld: the uri holds a NUL byte", m->name,
                              (long long)first_line);
    int rc = set_string(&m->uri, uri, uri_len, 0);
    int has_caption = m->caption_col >= 0 && m->caption_col < m->n_fields && m->field_len[m->caption_col] > 0;
    if (rc == CDX_OK)
        rc = set_string(&m->caption, has_caption ? field(m, m->caption_col) : NULL,
                        has_caption ? m->field_len[m->caption_col] : 0, 1);
    json_t *meta = json_object();
    for (int32_t i = 0; i < m->n_fields && rc == CDX_OK && meta; i++) {
        if (i == m->uri_col || i == m->caption_col)
            continue;
        char *v = utf8_clean(field(m, i), m->field_len[i]);
        if (!v || json_object_set_new(meta, m->cols[i], json_string(v)) != 0)
            rc = CDX_ERR_NOMEM;
        free(v);
    }
    if (rc == CDX_OK)
        rc = meta ? set_meta(m, meta) : CDX_ERR_NOMEM;
    json_decref(meta);
    if (rc != CDX_OK)
        return cdx_errbuf_set(eb, rc, "manifest %s: out of memory", m->name);
    *row = (cdx_manifest_row){m->uri, m->caption, m->meta, first_line};
    return 1;
}

static int jsonl_row(cdx_manifest *m, const buf *b, cdx_manifest_row *row, int64_t line, cdx_errbuf *eb)
{
    json_error_t jerr;
    json_t *obj = json_loadb(b->p, b->len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = CDX_OK;
    if (!obj || !json_is_object(obj)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "manifest %s:%lld: %s", m->name, (long long)line,
                            obj ? "not a JSON object" : jerr.text);
        goto done;
    }
    const char *uri_key = NULL, *caption_key = NULL;
    for (size_t i = 0; i < CDX_ARRAY_LEN(uri_names) && !uri_key; i++)
        if (json_object_get(obj, uri_names[i]))
            uri_key = uri_names[i];
    for (size_t i = 0; i < CDX_ARRAY_LEN(caption_names) && !caption_key; i++)
        if (json_object_get(obj, caption_names[i]))
            caption_key = caption_names[i];
    json_t *u = uri_key ? json_object_get(obj, uri_key) : NULL;
    json_t *c = caption_key ? json_object_get(obj, caption_key) : NULL;
    if (!json_is_string(u) || json_string_length(u) == 0 || strlen(json_string_value(u)) != json_string_length(u)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "manifest %s:%lld: %s", m->name, (long long)line,
                            u ? "the uri is not a non-empty string without NULs"
                              : "no uri (name one of uri, path, url, file, filepath, filename, image, image_path)");
        goto done;
    }
    if (c && !json_is_string(c) && !json_is_null(c)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "manifest %s:%lld: the %s is not a string", m->name, (long long)line,
                            caption_key);
        goto done;
    }
    rc = set_string(&m->uri, json_string_value(u), json_string_length(u), 0);
    int has_caption = json_is_string(c) && json_string_length(c) > 0;
    if (rc == CDX_OK)
        rc = set_string(&m->caption, has_caption ? json_string_value(c) : NULL,
                        has_caption ? json_string_length(c) : 0, 1);
    json_object_del(obj, uri_key);
    if (caption_key)
        json_object_del(obj, caption_key);
    if (rc == CDX_OK)
        rc = set_meta(m, obj);
    if (rc != CDX_OK)
        cdx_errbuf_set(eb, rc, "manifest %s: out of memory", m->name);
    else
        *row = (cdx_manifest_row){m->uri, m->caption, m->meta, line};
done:
    json_decref(obj);
    return rc == CDX_OK ? 1 : rc;
}

static int lines_row(cdx_manifest *m, const buf *b, cdx_manifest_row *row, int64_t line, cdx_errbuf *eb)
{
    if (strlen(b->p) != b->len)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "manifest %s:%lld: the line holds a NUL byte", m->name,
                              (long long)line);
    int rc = set_string(&m->uri, b->p, b->len, 0);
    if (rc == CDX_OK)
        rc = set_string(&m->caption, NULL, 0, 0);
    if (rc == CDX_OK)
        rc = set_meta(m, NULL);
    if (rc != CDX_OK)
        return cdx_errbuf_set(eb, rc, "manifest %s: out of memory", m->name);
    *row = (cdx_manifest_row){m->uri, NULL, NULL, line};
    return 1;
}

int cdx_manifest_next(cdx_manifest *m, cdx_manifest_row *row, cdx_errbuf *eb)
{
    for (;;) {
        int64_t first_line = m->row_line = m->line + 1;
        int r;
        if (m->format == CDX_MANIFEST_FORMAT_CSV || m->format == CDX_MANIFEST_FORMAT_TSV) {
            r = read_record(m);
            if (r == 1 && m->n_fields == 1 && m->field_len[0] == 0)
                continue; /* blank line */
        } else {
            r = read_line(m, &m->rec);
            if (r == 1) {
                size_t i = 0;
                while (i < m->rec.len && (m->rec.p[i] == ' ' || m->rec.p[i] == '\t'))
                    i++;
                if (i == m->rec.len)
                    continue; /* blank line */
            }
        }
        if (m->io_error)
            return cdx_errbuf_set(eb, CDX_ERR_IO, "manifest %s: read error after line %lld", m->name,
                                  (long long)m->line);
        if (r == 0)
            return 0;
        if (r == CDX_ERR_NOMEM)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "manifest %s: out of memory", m->name);
        if (r == CDX_ERR_PARSE)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "manifest %s:%lld: a quoted field is not closed before the end",
                                  m->name, (long long)first_line);
        if (m->rec.over)
            return cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "manifest %s:%lld: the row is over %zu MiB", m->name,
                                  (long long)first_line, ROW_MAX >> 20);
        switch (m->format) {
        case CDX_MANIFEST_FORMAT_CSV:
        case CDX_MANIFEST_FORMAT_TSV: return csv_row(m, row, first_line, eb);
        case CDX_MANIFEST_FORMAT_JSONL: return jsonl_row(m, &m->rec, row, first_line, eb);
        default: return lines_row(m, &m->rec, row, first_line, eb);
        }
    }
}
