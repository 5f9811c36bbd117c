/* The clipdex command line: a table of subcommands (cli/main.c), one file per
 * subcommand (cli/cmd_*.c). Each handler gets argv with argv[0] set to the
 * subcommand's name and returns a process exit code. */
#ifndef CDX_CLI_H
#define CDX_CLI_H

typedef struct cdx_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cdx_cli_command;

/* Subcommand handlers. */
int cdx_cmd_doctor(int argc, char **argv);
int cdx_cmd_contract(int argc, char **argv);
int cdx_cmd_tokenize(int argc, char **argv);
int cdx_cmd_golden(int argc, char **argv);
int cdx_cmd_embed(int argc, char **argv);
int cdx_cmd_preprocess(int argc, char **argv);
int cdx_cmd_serve(int argc, char **argv);
int cdx_cmd_bench(int argc, char **argv);

int cdx_cmd_index(int argc, char **argv);
int cdx_cmd_failures(int argc, char **argv);
int cdx_cmd_ingest(int argc, char **argv);
int cdx_cmd_search(int argc, char **argv);

/* Prints "clipdex <cmd>: <message>" to stderr and returns exit code 2. */
int cdx_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Splits "a:x=1,y=2,b:z=3" into specs at commas that start a new provider
 * entry, so --providers SPEC[,SPEC...] works although specs contain commas.
 * Appends to specs[*n]; -1 when more than max. */
int cdx_cli_split_specs(const char *arg, char specs[][512], int *n, int max);

/* Data-directory commands (cli/data_dir.c). Errors are printed as text on
 * stderr, or as {"ok": false, "error": {...}} on stdout with --json; these
 * return the exit code, 0 on success. */
#include "common/error.h"
#include "index/store.h"
#include <jansson.h>
int cdx_cli_report_error(const char *cmd, int as_json, int rc, const cdx_errbuf *eb);
/* Opens DIR without a model: read-only, or writable for maintenance (the
 * catalog's contract stamp decides what the data is). index_spec may be NULL. */
int cdx_cli_open_data(const char *cmd, const char *dir, int writable, const char *index_spec, int as_json,
                      cdx_store **out);
/* Prints j indented and releases it. */
int cdx_cli_print_json(json_t *j);
/* The contract at contract_path (NULL: the embedded default) and its
 * encoder (cli/model_open.c); ep's threads and vips concurrency default to
 * the process thread budget. On failure both are NULL and eb says why. */
#include "contracts/contract.h"
#include "encoder/encoder.h"
int cdx_cli_open_model(const char *contract_path, cdx_encoder_params *ep, cdx_contract **contract,
                       cdx_encoder **enc, cdx_errbuf *eb);

/* clipdex version and build revision (generated at build time). */
const char *cdx_cli_version(void);
const char *cdx_cli_git_revision(void);

#endif
