/* `clipdex doctor`: the environment half of an experiment card. Builds one
 * JSON document and prints it either as JSON (--json) or as an aligned text
 * report, so the two can never disagree. */
#include "cli/cli.h"

#include "common/sysinfo.h"
#include "contracts/contract.h"
#include "encoder/ort_env.h"
#include "index/faiss_shim.h"

#include <archive.h>
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <vips/vips.h>

static json_t *doctor_collect(void)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string(cdx_cli_version()));
    json_object_set_new(root, "git_revision", json_string(cdx_cli_git_revision()));

    json_t *ort = json_object();
    cdx_ort_info oi;
    cdx_errbuf eb = {0};
    int rc = cdx_ort_info_read(&oi, &eb);
    json_object_set_new(ort, "version", json_string(oi.version));
    json_object_set_new(ort, "api_version_header", json_integer(oi.api_version_header));
    json_t *prov = json_array();
    for (int i = 0; i < oi.n_providers; i++)
        json_array_append_new(prov, json_string(oi.providers[i]));
    json_object_set_new(ort, "providers", prov);
    if (rc != CDX_OK)
        json_object_set_new(ort, "error", json_string(cdx_errbuf_msg(&eb)));
    json_object_set_new(root, "onnxruntime", ort);

    cdx_sysinfo si;
    cdx_sysinfo_read(&si);
    json_t *cpu = json_object();
    json_object_set_new(cpu, "model", json_string(si.cpu_model));
    json_object_set_new(cpu, "cores_online", json_integer(si.cores_online));
    json_object_set_new(cpu, "cores_usable", json_integer(si.cores_usable));
    json_t *feat = json_array();
    for (int i = 0; i < si.n_features; i++)
        json_array_append_new(feat, json_string(si.features[i]));
    json_object_set_new(cpu, "features", feat);
    json_object_set_new(root, "cpu", cpu);

    json_t *os = json_object();
    json_object_set_new(os, "name", json_string(si.os_name));
    json_object_set_new(os, "kernel", json_string(si.kernel));
    json_object_set_new(os, "arch", json_string(si.arch));
    json_object_set_new(os, "mem_total_bytes", json_integer((json_int_t)si.mem_total_bytes));
    json_object_set_new(root, "os", os);

    json_t *libs = json_object();
    json_object_set_new(libs, "vips", json_string(vips_version_string()));
    json_object_set_new(libs, "faiss", json_string(cdx_faiss_version()));
    json_object_set_new(libs, "sqlite", json_string(sqlite3_libversion()));
    json_object_set_new(libs, "libevent", json_string(event_get_version()));
    json_object_set_new(libs, "jansson", json_string(jansson_version_str()));
    json_object_set_new(libs, "protobuf_c", json_string(protobuf_c_version()));
    json_object_set_new(libs, "libarchive", json_string(archive_version_string()));
    json_object_set_new(root, "libs", libs);
    return root;
}

/* The model half of the card: what the contract pins and whether its
 * artifacts were verified. On failure, the contract path and the error. */
static json_t *doctor_model(const char *path, int *exit_code)
{
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_contract_open(path, NULL, &c, &eb);
    if (rc != CDX_OK) {
        *exit_code = cdx_exit_code(rc);
        return json_pack("{s:s, s:s, s:s}", "contract", path, "error_code", cdx_errname(rc), "error",
                         cdx_errbuf_msg(&eb));
    }
    const cdx_contract_spec *s = cdx_contract_get(c);
    json_t *batch = json_array(), *seq = json_array();
    for (int32_t i = 0; i < s->n_batch_buckets; i++)
        json_array_append_new(batch, json_integer(s->batch_buckets[i]));
    for (int32_t i = 0; i < s->n_seq_buckets; i++)
        json_array_append_new(seq, json_integer(s->seq_buckets[i]));
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:{s:o, s:o}, s:s, s:b, s:b}", "contract",
                          s->file, "id", s->id, "version", s->version, "family", cdx_family_name(s->family),
                          "variant", s->variant == CDX_VARIANT_INT8 ? "int8" : "fp32", "opset", (int)s->onnx_opset,
                          "ir_version", (int)s->onnx_ir_version, "dim", (int)s->dim, "buckets", "batch", batch,
                          "sequence", seq, "space_hash", s->space_hash, "artifacts_verified",
                          (int)s->artifacts_verified, "onnx_checked", (int)s->onnx_checked);
    cdx_contract_close(c);
    return m;
}

static void print_value(const char *key, json_t *v, int indent)
{
    if (json_is_object(v)) {
        printf("%*s%s:\n", indent, "", key);
        const char *k;
        json_t *sub;
        json_object_foreach(v, k, sub) print_value(k, sub, indent + 2);
        return;
    }
    printf("%*s%-*s ", indent, "", 22 - indent, key);
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (json_is_integer(e))
                printf("%s%lld", i ? " " : "", (long long)json_integer_value(e));
            else
                printf("%s%s", i ? " " : "", json_is_string(e) ? json_string_value(e) : "?");
        }
        if (json_array_size(v) == 0)
            printf("(none)");
    } else if (json_is_string(v)) {
        printf("%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        printf("%lld", (long long)json_integer_value(v));
    } else if (json_is_boolean(v)) {
        printf("%s", json_is_true(v) ? "yes" : "no");
    }
    printf("\n");
}

int cdx_cmd_doctor(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"contract", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int as_json = 0, c;
    const char *contract = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jc:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            as_json = 1;
            break;
        case 'c':
            contract = optarg;
            break;
        case 'h':
            printf("usage: clipdex doctor [--json] [--contract FILE]\n"
                   "Reports clipdex, ONNX Runtime and library versions, the execution providers ORT\n"
                   "offers, and the CPU's model, cores and SIMD features. With --contract, also the\n"
                   "model half under \"model\": the contract's id, family, opset, dim, buckets, space\n"
                   "hash, and whether its artifacts matched their sha256.\n");
            return 0;
        default:
            return cdx_cli_usage_error("doctor", "see clipdex doctor --help");
        }
    }
    if (optind < argc)
        return cdx_cli_usage_error("doctor", "unexpected argument '%s'", argv[optind]);

    json_t *root = doctor_collect();
    int model_exit = 0;
    if (contract)
        json_object_set_new(root, "model", doctor_model(contract, &model_exit));
    if (as_json) {
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
    } else {
        printf("clipdex doctor\n");
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) print_value(k, v, 0);
    }
    int ok = json_object_get(json_object_get(root, "onnxruntime"), "error") == NULL;
    json_decref(root);
    return !ok ? 4 : model_exit;
}
