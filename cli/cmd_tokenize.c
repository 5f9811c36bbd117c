/* `clipdex tokenize`: token ids and attention mask for texts, as the text
 * tower would get them. One text from --text, or many from stdin (--stdin:
 * one JSON string per line, so any text including newlines and NUL fits),
 * answered one JSON object per line in the same order. --bench N encodes the
 * stdin texts N times and reports throughput on one core instead.
 *
 *   clipdex tokenize --contract contracts/tiny-clip.json --text "a photo of a cat" --json
 *   clipdex tokenize --model models/tiny-clip --text "a photo of a cat" --json
 *   printf '"a photo"\n"\\u00c9t\\u00e9"\n' | clipdex tokenize --model DIR --stdin */
#include "cli/cli.h"

#include "common/clock.h"
#include "common/util.h"
#include "contracts/contract.h"
#include "encoder/tokenizer.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: clipdex tokenize (--contract FILE | --model DIR [--context-length N]) [--pad rule|none|N]\n"
               "                        (--text T | --stdin | --stdin --bench N) [--json]\n"
               "  --contract FILE   the contract's tokenizer, context length, special ids and padding rule\n"
               "  --model DIR       a model folder (spiece.model, tokenizer.json, or vocab.json + merges.txt)\n"
               "  --pad             rule: the contract's rule, or the context length (default); none; or a length\n"
               "  --stdin           read one JSON string per line, write one JSON object per line\n"
               "  --bench N         encode the stdin texts N times; print tokens/s\n");
}

typedef struct tok_out {
    int64_t *ids, *mask;
    int32_t cap;
} tok_out;

static void print_list(const int64_t *v, int32_t n, const char *sep)
{
    for (int32_t i = 0; i < n; i++)
        printf("%s%lld", i ? sep : "", (long long)v[i]);
}

static void print_result(const cdx_token_result *r, const tok_out *o, int as_json)
{
    if (as_json)
        printf("{\"n_tokens\":%d,\"truncated\":%d,\"ids\":[", r->n_tokens, r->truncated);
    else
        printf("n_tokens %d  truncated %d\nids ", r->n_tokens, r->truncated);
    print_list(o->ids, r->length, as_json ? "," : " ");
    printf(as_json ? "],\"mask\":[" : "\nmask ");
    print_list(o->mask, r->length, as_json ? "," : " ");
    printf(as_json ? "]}\n" : "\n");
}

static void print_error_json(int rc, const cdx_errbuf *eb)
{
    json_t *e = json_pack("{s:s,s:s}", "error", cdx_errname(rc), "message", cdx_errbuf_msg(eb));
    char *s = json_dumps(e, JSON_COMPACT);
    printf("%s\n", s ? s : "{\"error\":\"NOMEM\"}");
    free(s);
    json_decref(e);
}

/* Reads stdin lines as JSON strings into a list. */
typedef struct text_list {
    char **s;
    size_t *len;
    size_t n, cap;
} text_list;

static void text_list_free(text_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    free(l->len);
}

static int decode_line(const char *line, size_t n, char **text, size_t *len, char *err, size_t errcap)
{
    json_error_t je;
    json_t *v = json_loadb(line, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v || !json_is_string(v)) {
        snprintf(err, errcap, "%s", v ? "the line is JSON but not a string" : je.text);
        json_decref(v);
        return -1;
    }
    *len = json_string_length(v);
    *text = malloc(*len + 1);
    if (*text)
        memcpy(*text, json_string_value(v), *len + 1);
    json_decref(v);
    return *text ? 0 : -1;
}

static int run_bench(const cdx_tokenizer *t, int32_t pad, long repeat, tok_out *o)
{
    text_list l = {0};
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&line, &lcap, stdin)) > 0) {
        char err[200];
        char *txt;
        size_t tl;
        if (decode_line(line, (size_t)got, &txt, &tl, err, sizeof err) != 0) {
            fprintf(stderr, "clipdex tokenize: line %zu: %s\n", l.n + 1, err);
            rc = 3;
            goto done;
        }
        if (l.n == l.cap) {
            l.cap = l.cap ? l.cap * 2 : 256;
            l.s = realloc(l.s, l.cap * sizeof *l.s);
            l.len = realloc(l.len, l.cap * sizeof *l.len);
            if (!l.s || !l.len) {
                rc = 4;
                goto done;
            }
        }
        l.s[l.n] = txt;
        l.len[l.n++] = tl;
    }
    int64_t tokens = 0, bytes = 0, t0 = cdx_clock_thread_cpu_ns();
    for (long r = 0; r < repeat; r++) {
        for (size_t i = 0; i < l.n; i++) {
            cdx_token_result res;
            cdx_errbuf eb = {0};
            if (cdx_tokenizer_encode(t, l.s[i], l.len[i], pad, o->ids, o->mask, o->cap, &res, &eb) == CDX_OK)
                tokens += res.n_tokens;
            bytes += (int64_t)l.len[i];
        }
    }
    double secs = (double)(cdx_clock_thread_cpu_ns() - t0) / 1e9;
    printf("{\"texts\":%zu,\"repeat\":%ld,\"tokens\":%lld,\"bytes\":%lld,\"cpu_seconds\":%.4f,"
           "\"tokens_per_second\":%.0f,\"texts_per_second\":%.0f,\"mb_per_second\":%.2f}\n",
           l.n, repeat, (long long)tokens, (long long)bytes, secs, tokens / secs, (double)l.n * repeat / secs,
           bytes / secs / 1e6);
done:
    free(line);
    text_list_free(&l);
    return rc;
}

/* The contract is checked as `clipdex contract check` would (sha256 of every
 * artifact, ONNX signatures), then its tokenizer opened. */
static int open_from_contract(const char *path, const cdx_tokenizer_params *params, cdx_tokenizer **t,
                              cdx_errbuf *eb)
{
    cdx_contract_params cp = cdx_contract_default_params();
    cdx_contract *c = NULL;
    int rc = cdx_contract_open(path, &cp, &c, eb);
    if (rc != CDX_OK)
        return rc;
    rc = cdx_tokenizer_open(cdx_contract_get(c), params, t, eb);
    cdx_contract_close(c);
    return rc;
}

int cdx_cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"text", required_argument, NULL, 't'},
        {"stdin", no_argument, NULL, 's'},       {"json", no_argument, NULL, 'j'},
        {"pad", required_argument, NULL, 'p'},   {"context-length", required_argument, NULL, 'c'},
        {"bench", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'},
        {"contract", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *text = NULL, *contract = NULL;
    int use_stdin = 0, as_json = 0;
    long bench = 0;
    int32_t pad = CDX_TOKENIZER_PAD_RULE;
    cdx_tokenizer_params params = cdx_tokenizer_default_params();
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'C':
            contract = optarg;
            break;
        case 't':
            text = optarg;
            break;
        case 's':
            use_stdin = 1;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'p':
            if (strcmp(optarg, "rule") == 0)
                pad = CDX_TOKENIZER_PAD_RULE;
            else if (strcmp(optarg, "none") == 0)
                pad = CDX_TOKENIZER_PAD_NONE;
            else if ((pad = (int32_t)strtol(optarg, NULL, 10)) <= 0)
                return cdx_cli_usage_error("tokenize", "--pad %s: expected rule, none or a positive length", optarg);
            break;
        case 'c':
            params.context_length = (int32_t)strtol(optarg, NULL, 10);
            if (params.context_length < 2)
                return cdx_cli_usage_error("tokenize", "--context-length %s: expected an integer >= 2", optarg);
            break;
        case 'b':
            bench = strtol(optarg, NULL, 10);
            if (bench < 1)
                return cdx_cli_usage_error("tokenize", "--bench %s: expected a positive count", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc)
        return cdx_cli_usage_error("tokenize", "unexpected argument '%s'", argv[optind]);
    if (!!model + !!contract != 1)
        return cdx_cli_usage_error("tokenize", "give exactly one of --contract FILE or --model DIR");
    if (!!text + use_stdin != 1)
        return cdx_cli_usage_error("tokenize", "give exactly one of --text or --stdin");
    if (bench && !use_stdin)
        return cdx_cli_usage_error("tokenize", "--bench reads its texts from --stdin");

    cdx_errbuf eb = {0};
    cdx_tokenizer *t = NULL;
    int rc = contract ? open_from_contract(contract, &params, &t, &eb) : cdx_tokenizer_open_dir(model, &params, &t, &eb);
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex tokenize: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    tok_out o;
    o.cap = cdx_tokenizer_get_info(t)->context_length;
    o.ids = calloc((size_t)o.cap, sizeof *o.ids);
    o.mask = calloc((size_t)o.cap, sizeof *o.mask);
    int exit_code = 0;
    if (!o.ids || !o.mask) {
        fprintf(stderr, "clipdex tokenize: out of memory\n");
        exit_code = 4;
        goto done;
    }
    if (bench) {
        exit_code = run_bench(t, pad, bench, &o);
        goto done;
    }
    if (text) {
        cdx_token_result res;
        rc = cdx_tokenizer_encode(t, text, strlen(text), pad, o.ids, o.mask, o.cap, &res, &eb);
        if (rc != CDX_OK) {
            fprintf(stderr, "clipdex tokenize: %s\n", cdx_errbuf_msg(&eb));
            exit_code = cdx_exit_code(rc);
        } else {
            print_result(&res, &o, as_json);
        }
        goto done;
    }
    /* --stdin: every line answered, errors included, so outputs stay aligned with inputs. */
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    size_t lineno = 0;
    while ((got = getline(&line, &lcap, stdin)) > 0) {
        lineno++;
        char err[200], *txt = NULL;
        size_t tl = 0;
        if (decode_line(line, (size_t)got, &txt, &tl, err, sizeof err) != 0) {
            cdx_errbuf_set(&eb, CDX_ERR_PARSE, "stdin line %zu is not a JSON string: %s", lineno, err);
            print_error_json(CDX_ERR_PARSE, &eb);
            exit_code = 3;
            continue;
        }
        cdx_token_result res;
        rc = cdx_tokenizer_encode(t, txt, tl, pad, o.ids, o.mask, o.cap, &res, &eb);
        free(txt);
        if (rc != CDX_OK) {
            print_error_json(rc, &eb);
            exit_code = cdx_exit_code(rc);
        } else {
            print_result(&res, &o, 1);
        }
    }
    free(line);
done:
    free(o.ids);
    free(o.mask);
    cdx_tokenizer_close(t);
    return exit_code;
}
