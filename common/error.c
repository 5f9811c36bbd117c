/* Error vocabulary: the tables behind cdx_strerror, cdx_errname and
 * cdx_exit_code, generated from the one CDX_ERR_MAP list in error.h. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct err_entry {
    const char *name;
    int exit_code;
    const char *desc;
};

static const struct err_entry err_table[] = {
#define CDX_ERR_ROW_(name, exitcode, desc) {#name, exitcode, desc},
    CDX_ERR_MAP(CDX_ERR_ROW_)
#undef CDX_ERR_ROW_
};

static const struct err_entry *err_lookup(int err)
{
    int i = err - CDX_ERR_FIRST_ - 1;
    if (err >= 0 || i < 0 || i >= (int)(sizeof err_table / sizeof err_table[0]))
        return NULL;
    return &err_table[i];
}

const char *cdx_strerror(int err)
{
    if (err == CDX_OK)
        return "ok";
    const struct err_entry *e = err_lookup(err);
    return e ? e->desc : "unknown error";
}

const char *cdx_errname(int err)
{
    if (err == CDX_OK)
        return "OK";
    const struct err_entry *e = err_lookup(err);
    return e ? e->name : "UNKNOWN";
}

int cdx_exit_code(int err)
{
    if (err == CDX_OK)
        return 0;
    const struct err_entry *e = err_lookup(err);
    return e ? e->exit_code : 4;
}

int cdx_errbuf_set(cdx_errbuf *eb, int err, const char *fmt, ...)
{
    if (!eb)
        return err;
    eb->code = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
    va_end(ap);
    return err;
}

void cdx_errbuf_clear(cdx_errbuf *eb)
{
    if (!eb)
        return;
    eb->code = CDX_OK;
    eb->msg[0] = '\0';
}

const char *cdx_errbuf_msg(const cdx_errbuf *eb)
{
    if (!eb)
        return "";
    return eb->msg[0] ? eb->msg : cdx_strerror(eb->code);
}
