/* Opening a contract: reads the file (cdx_contract_parse_as does the
 * schema), then checks what it points at: every artifact's sha256 and each
 * tower file's ONNX signature (contract_onnx.c). Unlike the schema, these
 * checks do not stop at the first problem: a user fixing a model export
 * wants every difference at once, so they are gathered (cdx_problems) into
 * one message and, in full, into the report. Also finds the embedded
 * default contract. */
#include "contracts/contract.h"

#include "common/hash.h"
#include "common/log.h"
#include "common/util.h"
#include "contracts/contract_internal.h"
#include "contracts/onnx_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTRACT_MAX_BYTES (1u << 20)
#define DEFAULT_CONTRACT "tiny-clip.json"

/* --- problems: many errors in one message --- */

void cdx_problems_add(cdx_problems *p, int code, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cdx_log_debug("contract", "%s", line);
    if (p->count++ == 0)
        p->code = code;
    size_t n = strlen(line);
    char *all = realloc(p->all, p->all_len + n + 2);
    if (all) {
        p->all_len += (size_t)sprintf(all + p->all_len, "%s%s", p->all_len ? "\n" : "", line);
        p->all = all;
    }
    /* Keep room for the "(N more)" tail; the first problem always goes in. */
    if (p->len && p->len + n + 1 + 64 >= sizeof p->msg) {
        p->dropped++;
        return;
    }
    p->len += (size_t)snprintf(p->msg + p->len, sizeof p->msg - p->len, "%s%s", p->len ? "\n" : "", line);
    if (p->len >= sizeof p->msg)
        p->len = sizeof p->msg - 1;
}

int cdx_problems_finish(const cdx_problems *p, cdx_errbuf *eb)
{
    if (p->count == 0)
        return CDX_OK;
    if (p->dropped)
        return cdx_errbuf_set(eb, p->code, "%s\n(and %d more; `clipdex contract check` lists them all)", p->msg,
                              p->dropped);
    return cdx_errbuf_set(eb, p->code, "%s", p->msg);
}

void cdx_problems_free(cdx_problems *p)
{
    if (p)
        CDX_FREE(p->all);
}

/* --- open: the file, then what it points at --- */

static int read_small_file(const char *path, char **buf, size_t *len, cdx_errbuf *eb)
{
    *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO, "%s: cannot open the contract: %s",
                              path, strerror(errno));
    int rc = CDX_OK;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)st.st_size > CONTRACT_MAX_BYTES) {
        rc = cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "%s: %lld bytes is too large for a contract (limit %u)", path,
                            (long long)st.st_size, CONTRACT_MAX_BYTES);
        goto done;
    }
    *buf = malloc((size_t)st.st_size + 1);
    if (!*buf) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = cdx_errbuf_set(eb, CDX_ERR_IO, "%s: read: %s", path, n < 0 ? strerror(errno) : "file shrank");
            goto done;
        }
        got += (size_t)n;
    }
    *len = got;
done:
    if (rc != CDX_OK)
        CDX_FREE(*buf);
    close(fd);
    return rc;
}

static void verify_artifacts(const cdx_contract_spec *s, cdx_problems *p)
{
    for (int32_t i = 0; i < s->n_artifacts; i++) {
        const cdx_artifact *a = &s->artifacts[i];
        char hex[CDX_SHA256_HEX_LEN + 1];
        cdx_errbuf eb = {0};
        int rc = cdx_sha256_file_hex(a->path, hex, &eb);
        if (rc == CDX_ERR_NOTFOUND)
            cdx_problems_add(p, rc, "%s: artifacts[%d].path: the %s file %s does not exist", s->file, (int)i,
                             a->role, a->path);
        else if (rc != CDX_OK)
            cdx_problems_add(p, rc, "%s: artifacts[%d].path: %s", s->file, (int)i, cdx_errbuf_msg(&eb));
        else if (strcmp(hex, a->sha256) != 0)
            cdx_problems_add(p, CDX_ERR_MISMATCH, "%s: artifacts[%d].sha256: contract says %s, %s has %s", s->file,
                             (int)i, a->sha256, a->path, hex);
    }
}

static void check_towers(const cdx_contract_spec *s, int skip_missing, cdx_problems *p)
{
    for (int t = 0; t < 2; t++) {
        int32_t i = 0;
        while (i < s->n_artifacts && strcmp(s->artifacts[i].role, cdx_contract_tower_roles[t]) != 0)
            i++;
        CDX_ASSERT(i < s->n_artifacts); /* rule_roles requires both towers */
        const char *path = s->artifacts[i].path;
        if (skip_missing && access(path, F_OK) != 0)
            continue; /* already reported by verify_artifacts */
        cdx_onnx_info info;
        cdx_errbuf eb = {0};
        int rc = cdx_onnx_read(path, &info, &eb);
        if (rc != CDX_OK) {
            cdx_problems_add(p, rc, "%s: artifacts[%d].path: %s", s->file, (int)i, cdx_errbuf_msg(&eb));
            continue;
        }
        cdx_contract_compare_onnx(s, (enum cdx_tower_kind)t, path, &info, p);
        cdx_onnx_info_free(&info);
    }
}

int cdx_contract_open(const char *path, const cdx_contract_params *params, cdx_contract **out, cdx_errbuf *eb)
{
    return cdx_contract_open_report(path, params, out, NULL, eb);
}

int cdx_contract_open_report(const char *path, const cdx_contract_params *params, cdx_contract **out,
                             char **report, cdx_errbuf *eb)
{
    *out = NULL;
    if (report)
        *report = NULL;
    cdx_problems p = {0};
    cdx_contract_params prm = params ? *params : cdx_contract_default_params();
    char *json = NULL, *dir_copy = NULL;
    size_t len = 0;
    cdx_contract *ct = NULL;
    int rc = read_small_file(path, &json, &len, eb);
    if (rc != CDX_OK)
        goto done;
    if (strlen(path) >= CDX_CONTRACT_PATH_MAX) {
        rc = cdx_errbuf_set(eb, CDX_ERR_INVAL, "%.200s...: path too long", path);
        goto done;
    }
    dir_copy = strdup(path);
    if (!dir_copy) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    const char *dir = dirname(dir_copy);
    rc = cdx_contract_parse_as(json, len, strcmp(dir, ".") == 0 ? "" : dir, path, &ct, eb);
    if (rc != CDX_OK)
        goto done;
    cdx_contract_spec *s = &ct->spec;
    snprintf(s->file, sizeof s->file, "%s", path);
    if (prm.verify_artifacts)
        verify_artifacts(s, &p);
    if (prm.check_onnx)
        check_towers(s, prm.verify_artifacts, &p);
    if ((rc = cdx_problems_finish(&p, eb)) != CDX_OK)
        goto done;
    s->artifacts_verified = prm.verify_artifacts != 0;
    s->onnx_checked = prm.check_onnx != 0;
    *out = ct;
    ct = NULL;
done:
    if (rc != CDX_OK && report)
        *report = p.all ? p.all : strdup(cdx_errbuf_msg(eb));
    else
        cdx_problems_free(&p);
    cdx_contract_close(ct);
    free(json);
    free(dir_copy);
    return rc;
}

cdx_contract_params cdx_contract_default_params(void)
{
    return (cdx_contract_params){.verify_artifacts = 1, .check_onnx = 1};
}

void cdx_contract_close(cdx_contract *c) { free(c); }

const cdx_contract_spec *cdx_contract_get(const cdx_contract *c) { return &c->spec; }

const char *cdx_contract_artifact_path(const cdx_contract *c, const char *role)
{
    for (int32_t i = 0; role && i < c->spec.n_artifacts; i++)
        if (strcmp(c->spec.artifacts[i].role, role) == 0)
            return c->spec.artifacts[i].path;
    return NULL;
}

/* --- the default contract --- */

int cdx_contract_default_path(char *buf, size_t cap, cdx_errbuf *eb)
{
    char tried[2][PATH_MAX + 64];
    int n = 0;
    const char *home = getenv("CDX_HOME");
    if (home && *home) {
        snprintf(tried[n++], sizeof tried[0], "%s/contracts/" DEFAULT_CONTRACT, home);
    } else {
        char exe[PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (len <= 0)
            return cdx_errbuf_set(eb, CDX_ERR_IO, "cannot find the running binary (/proc/self/exe: %s) to locate "
                                  "the default contract; set CDX_HOME or pass --contract FILE", strerror(errno));
        exe[len] = '\0';
        const char *dir = dirname(exe);
        snprintf(tried[n++], sizeof tried[0], "%s/../contracts/" DEFAULT_CONTRACT, dir);
        snprintf(tried[n++], sizeof tried[0], "%s/../share/clipdex/contracts/" DEFAULT_CONTRACT, dir);
    }
    for (int i = 0; i < n; i++) {
        char real[PATH_MAX];
        if (access(tried[i], R_OK) != 0 || !realpath(tried[i], real))
            continue;
        if (strlen(real) >= cap)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "default contract path %s does not fit in %zu bytes", real, cap);
        snprintf(buf, cap, "%s", real);
        return CDX_OK;
    }
    if (n == 1)
        return cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "no default contract: %s does not exist (CDX_HOME is set); "
                              "point CDX_HOME at a folder with contracts/" DEFAULT_CONTRACT " or pass --contract FILE",
                              tried[0]);
    return cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "no default contract: tried %s and %s; set CDX_HOME to a folder with "
                          "contracts/" DEFAULT_CONTRACT " or pass --contract FILE", tried[0], tried[1]);
}
