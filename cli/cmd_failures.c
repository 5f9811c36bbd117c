/* `clipdex failures list --data DIR [--json]`: the dead letters of a data
 * directory (items that failed at some stage, with attempts and when), oldest
 * first. Read-only: it never blocks an ingest writing to the same directory. */
#include "cli/cli.h"

#include "common/escape.h"
#include "common/util.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct list_ctx {
    int as_json;
    json_t *arr;
    int64_t n;
} list_ctx;

static void iso_time(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* JSON strings must be UTF-8; a uri that is not gets its escaped form. */
static json_t *safe_string(const char *s)
{
    json_t *v = json_string(s);
    if (!v) {
        char esc[1024];
        v = json_string(cdx_escape_name(s, esc, sizeof esc));
    }
    return v;
}

static int print_failure(void *ctx, const cdx_failure_row *r)
{
    list_ctx *l = ctx;
    l->n++;
    char first[32], last[32];
    iso_time(r->first_seen_ms, first, sizeof first);
    iso_time(r->last_seen_ms, last, sizeof last);
    if (l->as_json) {
        json_t *o = json_pack("{s:o, s:s, s:s, s:s, s:o, s:s, s:i, s:s, s:s}", "uri", safe_string(r->uri),
                              "content_hash", r->content_hash, "stage", r->stage, "code", r->code, "message",
                              safe_string(r->message), "contract_id", r->contract_id, "attempts", (int)r->attempts,
                              "first_seen", first, "last_seen", last);
        return o && json_array_append_new(l->arr, o) == 0 ? 0 : CDX_ERR_NOMEM;
    }
    char uri[1024];
    printf("%s  %-10s %-10s attempts=%d  %s: %s\n", last, r->stage, r->code, (int)r->attempts,
           cdx_escape_name(r->uri, uri, sizeof uri), r->message);
    return 0;
}

static int usage(FILE *f)
{
    fprintf(f, "usage: clipdex failures list --data DIR [--json]\n\n"
               "Lists the dead letters of a data directory: each item that failed (uri, stage, error code,\n"
               "message, attempts, first and last seen), oldest first. A later successful ingest of the\n"
               "same uri clears its entry. Exit codes: 0 ok, 2 usage, 3 DIR is not a data directory.\n");
    return f == stdout ? 0 : 2;
}

int cdx_cmd_failures(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int as_json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            return usage(stdout);
        default:
            return cdx_cli_usage_error("failures", "see clipdex failures --help");
        }
    }
    if (optind >= argc)
        return usage(stderr);
    if (strcmp(argv[optind], "list") != 0)
        return cdx_cli_usage_error("failures", "unknown action '%s' (expected list)", argv[optind]);
    if (optind + 1 < argc)
        return cdx_cli_usage_error("failures", "unexpected argument '%s'", argv[optind + 1]);
    if (!dir)
        return cdx_cli_usage_error("failures", "--data DIR is required");
    cdx_store *s;
    int code = cdx_cli_open_data("failures", dir, 0, NULL, as_json, &s);
    if (code)
        return code;
    list_ctx l = {as_json, as_json ? json_array() : NULL, 0};
    cdx_errbuf eb = {0};
    int rc = cdx_store_list_failures(s, print_failure, &l, &eb);
    cdx_store_close(s);
    if (rc != CDX_OK) {
        json_decref(l.arr);
        if (rc == CDX_ERR_NOMEM && !eb.code)
            cdx_errbuf_set(&eb, rc, "listing failures: out of memory");
        return cdx_cli_report_error("failures list", as_json, rc, &eb);
    }
    if (as_json)
        return cdx_cli_print_json(json_pack("{s:b, s:s, s:I, s:o}", "ok", 1, "data", dir, "count", (json_int_t)l.n,
                                            "failures", l.arr));
    if (l.n == 0)
        fprintf(stderr, "no failures recorded in %s\n", dir);
    return 0;
}
