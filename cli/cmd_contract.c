/* `clipdex contract check|show [FILE]`: load a contract the way every other
 * command does (strict schema, artifact sha256s, ONNX signatures) and say
 * whether it holds (check) or what it says (show). With no FILE, the
 * embedded default contract. Exit codes come from the error's code
 * (cdx_exit_code): 3 for a bad or mismatched contract. */
#include "cli/cli.h"

#include "common/util.h"
#include "contracts/contract.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct contract_opts {
    int as_json;
    cdx_contract_params params;
    char path[CDX_CONTRACT_PATH_MAX];
} contract_opts;

typedef int (*contract_action)(const contract_opts *o, const cdx_contract *c);

/* Prints a failure (JSON on stdout with --json, text on stderr) and returns
 * its exit code. report, when given, is the full list of problems. */
static int report_error(const char *sub, const contract_opts *o, int rc, const cdx_errbuf *eb, const char *report)
{
    const char *msg = report ? report : cdx_errbuf_msg(eb);
    if (o->as_json) {
        json_t *j = json_pack("{s:b, s:s, s:{s:s, s:i, s:s}}", "ok", 0, "file", o->path, "error", "code",
                              cdx_errname(rc), "exit_code", cdx_exit_code(rc), "message", msg);
        char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        printf("%s\n", s ? s : "{\"ok\": false}");
        free(s);
        json_decref(j);
    } else {
        fprintf(stderr, "clipdex contract %s: %s\n", sub, msg);
    }
    return cdx_exit_code(rc);
}

static int action_check(const contract_opts *o, const cdx_contract *c)
{
    const cdx_contract_spec *s = cdx_contract_get(c);
    if (o->as_json) {
        json_t *j = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "ok", 1, "file", s->file, "id", s->id,
                              "version", s->version, "family", cdx_family_name(s->family), "space_hash",
                              s->space_hash, "artifacts_verified", (int)s->artifacts_verified, "onnx_checked",
                              (int)s->onnx_checked);
        char *out = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        printf("%s\n", out ? out : "{\"ok\": true}");
        free(out);
        json_decref(j);
        return 0;
    }
    printf("ok: %s: %s version %s (%s); %d artifacts %s; ONNX opset %d, IR %d and tower signatures %s; "
           "space hash %s\n",
           s->file, s->id, s->version, cdx_family_name(s->family), (int)s->n_artifacts,
           s->artifacts_verified ? "match their sha256" : "not hashed (--no-hash)", (int)s->onnx_opset,
           (int)s->onnx_ir_version, s->onnx_checked ? "match" : "not read", s->space_hash);
    return 0;
}

static int action_show(const contract_opts *o, const cdx_contract *c)
{
    char *s = cdx_contract_describe(c, o->as_json);
    if (!s) {
        fprintf(stderr, "clipdex contract show: cannot describe %s (out of memory, or a path that is not UTF-8)\n",
                o->path);
        return cdx_exit_code(CDX_ERR_NOMEM);
    }
    fputs(s, stdout);
    if (o->as_json)
        fputc('\n', stdout);
    free(s);
    return 0;
}

static const struct {
    const char *name;
    contract_action run;
    const char *summary;
} actions[] = {
    {"check", action_check, "validate FILE: schema, artifact sha256s, ONNX signatures; exit 0 when it holds"},
    {"show", action_show, "print what FILE says (validated the same way)"},
};

static int usage(FILE *f)
{
    fprintf(f, "usage: clipdex contract check|show [FILE] [--json] [--no-hash]\n\n");
    for (size_t i = 0; i < CDX_ARRAY_LEN(actions); i++)
        fprintf(f, "  %-6s %s\n", actions[i].name, actions[i].summary);
    fprintf(f, "\nFILE defaults to the embedded default contract ($CDX_HOME/contracts/tiny-clip.json, or\n"
               "the one beside the clipdex binary). --no-hash skips the artifacts' sha256 (seconds for a\n"
               "large model); the schema and the ONNX files' signatures are still checked. Exit codes:\n"
               "0 ok, 2 usage, 3 the contract is missing, malformed or does not match its files, 4 I/O error.\n");
    return f == stdout ? 0 : 2;
}

int cdx_cmd_contract(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"no-hash", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    contract_opts o = {.params = cdx_contract_default_params()};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jnh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o.as_json = 1;
            break;
        case 'n':
            o.params.verify_artifacts = 0;
            break;
        case 'h':
            return usage(stdout);
        default:
            return cdx_cli_usage_error("contract", "see clipdex contract --help");
        }
    }
    if (optind >= argc)
        return usage(stderr);
    const char *sub = argv[optind++];
    size_t a = 0;
    while (a < CDX_ARRAY_LEN(actions) && strcmp(actions[a].name, sub) != 0)
        a++;
    if (a == CDX_ARRAY_LEN(actions))
        return cdx_cli_usage_error("contract", "unknown action '%s' (expected check or show)", sub);
    if (argc - optind > 1)
        return cdx_cli_usage_error("contract", "unexpected argument '%s'", argv[optind + 1]);

    cdx_errbuf eb = {0};
    int rc;
    if (optind < argc) {
        snprintf(o.path, sizeof o.path, "%s", argv[optind]);
    } else if ((rc = cdx_contract_default_path(o.path, sizeof o.path, &eb)) != CDX_OK) {
        return report_error(sub, &o, rc, &eb, NULL);
    }
    cdx_contract *ct = NULL;
    char *report = NULL;
    rc = cdx_contract_open_report(o.path, &o.params, &ct, &report, &eb);
    if (rc != CDX_OK) {
        int code = report_error(sub, &o, rc, &eb, report);
        free(report);
        return code;
    }
    int code = actions[a].run(&o, ct);
    cdx_contract_close(ct);
    return code;
}
