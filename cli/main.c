/* clipdex entry point: global flags, then dispatch through the subcommand
 * table. Adding a subcommand is one row here and one cmd_<name>.c file. */
#include "cli/cli.h"

#include "cdx_version.h"
#include "common/log.h"
#include "common/util.h"
#include "encoder/ort_env.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cdx_cli_command commands[] = {
    {"doctor", "report the environment: versions, providers, CPU features", cdx_cmd_doctor},
    {"contract", "check or show a model contract (schema, artifact sha256s, ONNX signatures)", cdx_cmd_contract},
    {"embed", "texts and images to L2-normalized vectors (the embedded model by default)", cdx_cmd_embed},
    {"golden", "run the golden pack under provider specs: the embedding agreement matrix", cdx_cmd_golden},
    {"tokenize", "token ids and attention mask for texts (one, or many from stdin)", cdx_cmd_tokenize},
    {"serve", "serve search, rerank and embed over HTTP, with metrics and a search page", cdx_cmd_serve},
    {"preprocess", "decode and preprocess images as the model sees them; tensors, info, speed", cdx_cmd_preprocess},
    {"bench", "latency and throughput per provider, bucket, threads and opt level: cards, report, verdicts", cdx_cmd_bench},
    {"index", "inspect, verify, rebuild or tune a data directory's vector indexes", cdx_cmd_index},
    {"failures", "list the dead letters of a data directory (items that failed, and why)", cdx_cmd_failures},
    {"ingest", "embed a catalog (directories, manifests, tar shards) into a data directory", cdx_cmd_ingest},
    {"search", "top-k search of a data directory by text or image", cdx_cmd_search},
};

const char *cdx_cli_version(void) { return CDX_VERSION; }
const char *cdx_cli_git_revision(void) { return CDX_GIT_REVISION; }

int cdx_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "clipdex %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: clipdex [--log-level L] [--log-format text|json] <command> [args]\n"
            "       clipdex <command> --help\n\ncommands:\n");
    for (size_t i = 0; i < CDX_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nenvironment: CDX_LOG_LEVEL, CDX_LOG_FORMAT\n");
}

int main(int argc, char **argv)
{
    cdx_log_init_from_env();
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("clipdex %s (%s)\n", CDX_VERSION, CDX_GIT_REVISION);
            return 0;
        } else if (strcmp(a, "--log-level") == 0 && i + 1 < argc) {
            int lv = cdx_log_level_from_name(argv[++i]);
            if (lv < 0)
                return cdx_cli_usage_error("", "--log-level %s: expected error|warn|info|debug|trace", argv[i]);
            cdx_log_set_level((enum cdx_log_level)lv);
        } else if (strcmp(a, "--log-format") == 0 && i + 1 < argc) {
            const char *f = argv[++i];
            if (strcmp(f, "json") == 0)
                cdx_log_set_format(CDX_LOG_FORMAT_JSON);
            else if (strcmp(f, "text") == 0)
                cdx_log_set_format(CDX_LOG_FORMAT_TEXT);
            else
                return cdx_cli_usage_error("", "--log-format %s: expected text|json", f);
        } else {
            fprintf(stderr, "clipdex: unknown option %s\n", a);
            print_usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        print_usage(stderr);
        return 2;
    }
    for (size_t c = 0; c < CDX_ARRAY_LEN(commands); c++) {
        if (strcmp(argv[i], commands[c].name) == 0) {
            int rc = commands[c].run(argc - i, argv + i);
            cdx_ort_env_shutdown();
            return rc;
        }
    }
    fprintf(stderr, "clipdex: unknown command '%s'\n", argv[i]);
    print_usage(stderr);
    return 2;
}
