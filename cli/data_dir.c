/* Shared by the commands that work on a data directory (`clipdex index`,
 * `clipdex failures`): opening it without a model and reporting errors as
 * text or JSON the same way. */
#include "cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int cdx_cli_report_error(const char *cmd, int as_json, int rc, const cdx_errbuf *eb)
{
    if (as_json) {
        json_t *j = json_pack("{s:b, s:{s:s, s:i, s:s}}", "ok", 0, "error", "code", cdx_errname(rc), "exit_code",
                              cdx_exit_code(rc), "message", cdx_errbuf_msg(eb));
        char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        printf("%s\n", s ? s : "{\"ok\": false}");
        free(s);
        json_decref(j);
    } else {
        fprintf(stderr, "clipdex %s: %s\n", cmd, cdx_errbuf_msg(eb));
    }
    return cdx_exit_code(rc);
}

int cdx_cli_open_data(const char *cmd, const char *dir, int writable, const char *index_spec, int as_json,
                      cdx_store **out)
{
    cdx_store_params p = cdx_store_default_params();
    p.read_only = !writable;
    p.create = 0;
    if (index_spec)
        p.index_spec = index_spec;
    cdx_errbuf eb = {0};
    int rc = cdx_store_open(dir, NULL, &p, out, &eb);
    return rc == CDX_OK ? 0 : cdx_cli_report_error(cmd, as_json, rc, &eb);
}

int cdx_cli_print_json(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!s) {
        fprintf(stderr, "clipdex: out of memory formatting JSON\n");
        return cdx_exit_code(CDX_ERR_NOMEM);
    }
    printf("%s\n", s);
    free(s);
    return 0;
}
