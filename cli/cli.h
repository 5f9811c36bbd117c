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
int cdx_cmd_bench(int argc, char **argv);

/* Prints "clipdex <cmd>: <message>" to stderr and returns exit code 2. */
int cdx_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Splits "a:x=1,y=2,b:z=3" into specs at commas that start a new provider
 * entry, so --providers SPEC[,SPEC...] works although specs contain commas.
 * Appends to specs[*n]; -1 when more than max. */
int cdx_cli_split_specs(const char *arg, char specs[][512], int *n, int max);

/* clipdex version and build revision (generated at build time). */
const char *cdx_cli_version(void);
const char *cdx_cli_git_revision(void);

#endif
