/* Model contracts: load, validate and describe one frozen model release.
 *
 * A contract (contracts/README.md is the schema) pins everything that makes two
 * embeddings comparable. cdx_contract_open parses the JSON strictly (unknown or
 * missing fields are errors), resolves artifact paths, checks every artifact's
 * sha256, and reads the ONNX files' own opset, IR version and signatures to
 * compare them with the contract. Each error names the file, the field, what was
 * expected and what was found.
 *
 * The parsed values are a plain read-only struct (cdx_contract_spec) owned by the
 * handle: borrowed, valid until cdx_contract_close. A contract is immutable once
 * open and may be shared by any number of threads. */
#ifndef CDX_CONTRACTS_CONTRACT_H
#define CDX_CONTRACTS_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_contract cdx_contract;

enum cdx_family { CDX_FAMILY_CLIP = 0, CDX_FAMILY_SIGLIP = 1 };
enum cdx_variant { CDX_VARIANT_FP32 = 0, CDX_VARIANT_INT8 = 1 };
enum cdx_resize { CDX_RESIZE_SHORTEST_EDGE = 0, CDX_RESIZE_EXACT = 1 };
enum cdx_interp { CDX_INTERP_BICUBIC = 0, CDX_INTERP_BILINEAR = 1, CDX_INTERP_NEAREST = 2 };
enum cdx_crop { CDX_CROP_CENTER = 0, CDX_CROP_NONE = 1 };
enum cdx_tokenizer_kind { CDX_TOKENIZER_CLIP_BPE = 0, CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM = 1 };
enum cdx_padding { CDX_PADDING_MAX_LENGTH = 0, CDX_PADDING_BUCKET = 1 };
enum cdx_pooling { CDX_POOLING_EOS_ARGMAX = 0, CDX_POOLING_LAST = 1 };
enum cdx_dtype { CDX_DTYPE_FLOAT32 = 0, CDX_DTYPE_INT64 = 1, CDX_DTYPE_INT32 = 2, CDX_DTYPE_FLOAT16 = 3 };
enum cdx_tower_kind { CDX_TOWER_VISION = 0, CDX_TOWER_TEXT = 1 };

#define CDX_CONTRACT_MAX_RANK 8
#define CDX_CONTRACT_MAX_IO 4
#define CDX_CONTRACT_MAX_ARTIFACTS 12
#define CDX_CONTRACT_MAX_BUCKETS 16
#define CDX_CONTRACT_PATH_MAX 4096

/* One graph input or output. dims[i] >= 0 is fixed; -1 is symbolic, named in dim_names[i]. */
typedef struct cdx_tensor_spec {
    char name[64];
    enum cdx_dtype dtype;
    int32_t rank;
    int64_t dims[CDX_CONTRACT_MAX_RANK];
    char dim_names[CDX_CONTRACT_MAX_RANK][16];
} cdx_tensor_spec;

typedef struct cdx_tower_spec {
    int32_t n_inputs, n_outputs;
    cdx_tensor_spec inputs[CDX_CONTRACT_MAX_IO];
    cdx_tensor_spec outputs[CDX_CONTRACT_MAX_IO];
} cdx_tower_spec;

typedef struct cdx_artifact {
    char role[32];                      /* vision_model, text_model, tokenizer, vocab, merges, spiece, config, preprocessor_config */
    char path[CDX_CONTRACT_PATH_MAX];   /* resolved: absolute, or relative to the working directory */
    char sha256[65];                    /* lowercase hex */
} cdx_artifact;

typedef struct cdx_contract_spec {
    char file[CDX_CONTRACT_PATH_MAX];   /* the contract file as opened */
    char id[64];
    char version[32];
    enum cdx_family family;
    enum cdx_variant variant;
    char model_dir[CDX_CONTRACT_PATH_MAX]; /* resolved */
    int32_t n_artifacts;
    cdx_artifact artifacts[CDX_CONTRACT_MAX_ARTIFACTS];

    int32_t onnx_opset;
    int32_t onnx_ir_version;
    cdx_tower_spec towers[2];           /* indexed by enum cdx_tower_kind */

    struct {
        int32_t height, width;
        enum cdx_resize resize;
        int32_t resize_to;              /* shortest-edge target; 0 for CDX_RESIZE_EXACT */
        enum cdx_interp interpolation;
        enum cdx_crop crop;
        double rescale;
        float mean[3], std[3];
        uint8_t background[3];
    } image;

    struct {
        enum cdx_tokenizer_kind tokenizer;
        int32_t context_length;
        int32_t lowercase;              /* 0 or 1 */
        int64_t bos_id;                 /* -1 when the family has none */
        int64_t eos_id, pad_id, unk_id;
        enum cdx_padding padding;
        enum cdx_pooling pooling;
    } text;

    int32_t dim;                        /* embedding dimension; vectors are L2-normalized */

    struct {
        double logit_scale;             /* the multiplier, exp(model.logit_scale) */
        double logit_bias;              /* 0 when has_logit_bias is 0 */
        int32_t has_logit_bias;
    } scoring;

    int32_t n_batch_buckets;
    int32_t batch_buckets[CDX_CONTRACT_MAX_BUCKETS];     /* ascending */
    int32_t n_seq_buckets;
    int32_t seq_buckets[CDX_CONTRACT_MAX_BUCKETS];       /* ascending, last == context_length */

    char golden_pack[CDX_CONTRACT_PATH_MAX];             /* resolved */
    double golden_image_min_cosine;
    double golden_text_min_cosine;

    struct {
        double max_fallback;
        double min_speedup;
        double max_cold_warm_ratio;
        double max_drift;
    } thresholds;

    char space_hash[65];                /* sha256 of the vector-space fields (contracts/README.md) */

    /* What cdx_contract_open checked (cdx_contract_params): 1 when every
     * artifact's sha256 matched / both tower files' signatures matched; 0 when
     * the check was skipped (and always 0 after cdx_contract_parse). */
    int32_t artifacts_verified;
    int32_t onnx_checked;
} cdx_contract_spec;

typedef struct cdx_contract_params {
    int32_t verify_artifacts;   /* check every artifact's sha256 (default 1) */
    int32_t check_onnx;         /* read the ONNX files and compare signatures (default 1) */
} cdx_contract_params;

cdx_contract_params cdx_contract_default_params(void);

/* Loads and validates path. On failure *out is NULL and eb says which file,
 * which field, expected and actual: CDX_ERR_NOTFOUND (the contract or an
 * artifact missing), CDX_ERR_PARSE (not JSON, or a tower file that is not a
 * valid ONNX model), CDX_ERR_CONTRACT (schema: unknown, missing or ill-typed
 * field, or a rule across fields), CDX_ERR_MISMATCH (artifact hash or ONNX
 * signature differs), CDX_ERR_TOOBIG (over 1 MiB), CDX_ERR_IO. The schema
 * stops at its first error; the file checks report every problem, the first
 * code deciding the return value. */
int cdx_contract_open(const char *path, const cdx_contract_params *params, cdx_contract **out,
                      cdx_errbuf *eb);
/* The same; on failure, when report is not NULL, *report gets every problem
 * found (one per line), where eb holds as many as fit in CDX_ERRMSG_MAX and
 * counts the rest. Caller frees *report with free(); NULL on success. */
int cdx_contract_open_report(const char *path, const cdx_contract_params *params, cdx_contract **out,
                             char **report, cdx_errbuf *eb);
/* Parses contract JSON from memory without touching the filesystem (no
 * artifact or ONNX checks; paths resolve against base_dir). For tests and fuzzing. */
int cdx_contract_parse(const char *json, size_t len, const char *base_dir, cdx_contract **out,
                       cdx_errbuf *eb);
void cdx_contract_close(cdx_contract *c);

/* Borrowed; valid until cdx_contract_close. */
const cdx_contract_spec *cdx_contract_get(const cdx_contract *c);
/* Resolved path of the artifact with this role, or NULL. Borrowed. */
const char *cdx_contract_artifact_path(const cdx_contract *c, const char *role);

/* Path of the embedded default contract (the shipped tiny-clip model):
 * $CDX_HOME/contracts/tiny-clip.json when CDX_HOME is set, else found relative
 * to the running binary (build tree or installed share/clipdex). */
int cdx_contract_default_path(char *buf, size_t cap, cdx_errbuf *eb);

/* Human-readable (text) or JSON description for `clipdex contract show`.
 * Caller frees with free(). */
char *cdx_contract_describe(const cdx_contract *c, int as_json);

const char *cdx_family_name(enum cdx_family f);
const char *cdx_dtype_name(enum cdx_dtype d);

#ifdef __cplusplus
}
#endif
#endif
