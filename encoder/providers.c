/* Provider specs: the grammar, the table of providers and their options, and
 * the translation into ORT session options. Everything a user may write is in
 * the tables below; parsing and applying walk them, so adding an option is one
 * row. CoreML and CUDA go through ORT's real provider APIs (the generic
 * SessionOptionsAppendExecutionProvider for CoreML, the V2 options object for
 * CUDA); on builds without them ORT says so and we report it. */
#include "encoder/providers.h"

#include "common/log.h"
#include "common/util.h"
#include "encoder/ort_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_kind { OPT_INT, OPT_ENUM, OPT_BOOL, OPT_PATH };

struct opt_def {
    const char *key;
    enum opt_kind kind;
    const char *ort_key;           /* provider option key; NULL for session-wide options */
    const char *const *names;      /* OPT_ENUM: accepted values, NULL-terminated */
    const char *const *ort_values; /* OPT_ENUM: what ORT is told for each */
    long long min, max;            /* OPT_INT */
};

struct provider_def {
    enum cdx_provider id;
    const char *name;
    const char *ort_name;
    const struct opt_def *opts;
    size_t n_opts;
};

static const char *const opt_names[] = {"disabled", "basic", "extended", "layout", "all", NULL};
static const char *const opt_levels[] = {"0", "1", "2", "3", "99", NULL};

static const struct opt_def cpu_opts[] = {
    {"threads", OPT_INT, NULL, NULL, NULL, 1, 1024},
    {"inter_threads", OPT_INT, NULL, NULL, NULL, 1, 1024},
    {"opt", OPT_ENUM, NULL, opt_names, opt_levels, 0, 0},
    {"arena", OPT_BOOL, NULL, NULL, NULL, 0, 0},
    {"spin", OPT_BOOL, NULL, NULL, NULL, 0, 0},
    {"cache", OPT_PATH, NULL, NULL, NULL, 0, 0},
};

static const char *const coreml_formats[] = {"neuralnetwork", "mlprogram", NULL};
static const char *const coreml_formats_ort[] = {"NeuralNetwork", "MLProgram", NULL};
static const char *const coreml_units[] = {"cpuonly", "cpuandgpu", "cpuandne", "all", NULL};
static const char *const coreml_units_ort[] = {"CPUOnly", "CPUAndGPU", "CPUAndNeuralEngine", "ALL", NULL};
static const char *const coreml_strategy[] = {"default", "fastprediction", NULL};
static const char *const coreml_strategy_ort[] = {"Default", "FastPrediction", NULL};

static const struct opt_def coreml_opts[] = {
    {"format", OPT_ENUM, "ModelFormat", coreml_formats, coreml_formats_ort, 0, 0},
    {"units", OPT_ENUM, "MLComputeUnits", coreml_units, coreml_units_ort, 0, 0},
    {"static_shapes", OPT_BOOL, "RequireStaticInputShapes", NULL, NULL, 0, 0},
    {"subgraphs", OPT_BOOL, "EnableOnSubgraphs", NULL, NULL, 0, 0},
    {"cache", OPT_PATH, "ModelCacheDirectory", NULL, NULL, 0, 0},
    {"strategy", OPT_ENUM, "SpecializationStrategy", coreml_strategy, coreml_strategy_ort, 0, 0},
    {"low_precision", OPT_BOOL, "AllowLowPrecisionAccumulationOnGPU", NULL, NULL, 0, 0},
};

static const char *const cuda_arena[] = {"next_power_of_two", "same_as_requested", NULL};
static const char *const cuda_arena_ort[] = {"kNextPowerOfTwo", "kSameAsRequested", NULL};
static const char *const cuda_search[] = {"exhaustive", "heuristic", "default", NULL};
static const char *const cuda_search_ort[] = {"EXHAUSTIVE", "HEURISTIC", "DEFAULT", NULL};

static const struct opt_def cuda_opts[] = {
    {"device", OPT_INT, "device_id", NULL, NULL, 0, 64},
    {"mem_limit", OPT_INT, "gpu_mem_limit", NULL, NULL, 1 << 20, (long long)1 << 46},
    {"arena", OPT_ENUM, "arena_extend_strategy", cuda_arena, cuda_arena_ort, 0, 0},
    {"cudnn_search", OPT_ENUM, "cudnn_conv_algo_search", cuda_search, cuda_search_ort, 0, 0},
    {"tf32", OPT_BOOL, "use_tf32", NULL, NULL, 0, 0},
    {"copy_stream", OPT_BOOL, "do_copy_in_default_stream", NULL, NULL, 0, 0},
};

static const struct provider_def providers[] = {
    {CDX_PROVIDER_CPU, "cpu", "CPUExecutionProvider", cpu_opts, CDX_ARRAY_LEN(cpu_opts)},
    {CDX_PROVIDER_COREML, "coreml", "CoreMLExecutionProvider", coreml_opts, CDX_ARRAY_LEN(coreml_opts)},
    {CDX_PROVIDER_CUDA, "cuda", "CUDAExecutionProvider", cuda_opts, CDX_ARRAY_LEN(cuda_opts)},
};

static const struct provider_def *provider_def(enum cdx_provider p)
{
    for (size_t i = 0; i < CDX_ARRAY_LEN(providers); i++)
        if (providers[i].id == p)
            return &providers[i];
    return NULL;
}

const char *cdx_provider_name(enum cdx_provider p)
{
    const struct provider_def *d = provider_def(p);
    return d ? d->name : "?";
}

const char *cdx_provider_ort_name(enum cdx_provider p)
{
    const struct provider_def *d = provider_def(p);
    return d ? d->ort_name : "?";
}

int cdx_provider_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < CDX_ARRAY_LEN(providers); i++)
        if (strlen(providers[i].name) == len && strncmp(providers[i].name, name, len) == 0)
            return (int)providers[i].id;
    return -1;
}

int cdx_provider_from_ort_name(const char *ort_name)
{
    for (size_t i = 0; i < CDX_ARRAY_LEN(providers); i++)
        if (strcmp(providers[i].ort_name, ort_name) == 0)
            return (int)providers[i].id;
    return -1;
}

static const struct opt_def *opt_def(const struct provider_def *pd, const char *key)
{
    for (size_t i = 0; i < pd->n_opts; i++)
        if (strcmp(pd->opts[i].key, key) == 0)
            return &pd->opts[i];
    return NULL;
}

/* 1/0 for the boolean spellings we accept, -1 otherwise. */
static int parse_bool(const char *v)
{
    static const char *const yes[] = {"1", "on", "true", "yes"}, *const no[] = {"0", "off", "false", "no"};
    for (size_t i = 0; i < CDX_ARRAY_LEN(yes); i++) {
        if (strcmp(v, yes[i]) == 0)
            return 1;
        if (strcmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

static int enum_index(const struct opt_def *od, const char *v)
{
    for (int i = 0; od->names[i]; i++)
        if (strcmp(od->names[i], v) == 0)
            return i;
    return -1;
}

static void list_enum(const struct opt_def *od, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; od->names[i] && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "|" : "", od->names[i]);
}

static int check_value(const struct provider_def *pd, const struct opt_def *od, const char *v, cdx_errbuf *eb)
{
    char allowed[160];
    switch (od->kind) {
    case OPT_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < od->min || x > od->max)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s:%s=%s: expected an integer in [%lld, %lld]",
                                  pd->name, od->key, v, od->min, od->max);
        return CDX_OK;
    }
    case OPT_ENUM:
        if (enum_index(od, v) >= 0)
            return CDX_OK;
        list_enum(od, allowed, sizeof allowed);
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s:%s=%s: expected one of %s", pd->name, od->key, v,
                              allowed);
    case OPT_BOOL:
        if (parse_bool(v) >= 0)
            return CDX_OK;
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s:%s=%s: expected on|off (or 1|0)", pd->name,
                              od->key, v);
    case OPT_PATH:
        if (*v)
            return CDX_OK;
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s:%s: expected a path", pd->name, od->key);
    }
    return CDX_ERR_INTERNAL;
}

/* Copies [s, e) trimmed of surrounding blanks into out (cap bytes); 0 if it did not fit. */
static int copy_trimmed(const char *s, const char *e, char *out, size_t cap)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    if ((size_t)(e - s) >= cap)
        return 0;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return 1;
}

static int parse_option(const struct provider_def *pd, cdx_provider_entry *ent, const char *s, const char *e,
                        cdx_errbuf *eb)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    char key[32], val[256];
    if (!eq)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s: option '%.*s' is not key=value", pd->name,
                              (int)(e - s), s);
    if (!copy_trimmed(s, eq, key, sizeof key) || !copy_trimmed(eq + 1, e, val, sizeof val))
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s: option '%.*s' is too long", pd->name,
                              (int)(e - s), s);
    const struct opt_def *od = opt_def(pd, key);
    if (!od) {
        char keys[256];
        size_t n = 0;
        for (size_t i = 0; i < pd->n_opts; i++)
            n += (size_t)snprintf(keys + n, sizeof keys - n, "%s%s", i ? ", " : "", pd->opts[i].key);
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s has no option '%s' (it has: %s)", pd->name, key,
                              keys);
    }
    if (cdx_provider_entry_get(ent, key))
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s:%s given twice", pd->name, key);
    int rc = check_value(pd, od, val, eb);
    if (rc != CDX_OK)
        return rc;
    if (ent->n_options == CDX_PROVIDER_MAX_OPTIONS)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s: too many options", pd->name);
    cdx_provider_option *o = &ent->options[ent->n_options++];
    snprintf(o->key, sizeof o->key, "%s", key);
    snprintf(o->value, sizeof o->value, "%s", val);
    return CDX_OK;
}

static int parse_entry(const char *s, const char *e, cdx_provider_spec *spec, cdx_errbuf *eb)
{
    const char *colon = memchr(s, ':', (size_t)(e - s));
    char name[32];
    if (!copy_trimmed(s, colon ? colon : e, name, sizeof name) || !name[0])
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: empty or overlong provider name in '%.*s'",
                              (int)(e - s), s);
    int id = cdx_provider_from_name(name, strlen(name));
    const struct provider_def *pd = id >= 0 ? provider_def((enum cdx_provider)id) : NULL;
    if (!pd)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: unknown provider '%s' (known: cpu, coreml, cuda)",
                              name);
    for (int i = 0; i < spec->n_entries; i++)
        if (spec->entries[i].provider == pd->id)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: %s appears twice", name);
    if (spec->n_entries == CDX_PROVIDER_MAX_ENTRIES)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: too many entries");
    cdx_provider_entry *ent = &spec->entries[spec->n_entries];
    memset(ent, 0, sizeof *ent);
    ent->provider = pd->id;
    if (colon) {
        for (const char *p = colon + 1; p <= e;) {
            const char *comma = memchr(p, ',', (size_t)(e - p));
            const char *end = comma ? comma : e;
            int rc = parse_option(pd, ent, p, end, eb);
            if (rc != CDX_OK)
                return rc;
            p = end + 1;
        }
    }
    spec->n_entries++;
    return CDX_OK;
}

int cdx_provider_spec_parse(const char *text, cdx_provider_spec *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec is empty; name at least one provider, e.g. 'cpu'");
    const char *end = text + strlen(text);
    for (const char *p = text; p <= end;) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *e = semi ? semi : end;
        int rc = parse_entry(p, e, out, eb);
        if (rc != CDX_OK)
            return rc;
        p = e + 1;
    }
    for (int i = 0; i + 1 < out->n_entries; i++)
        if (out->entries[i].provider == CDX_PROVIDER_CPU)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL,
                                  "provider spec '%s': cpu must be the last entry (ORT tries the CPU provider after "
                                  "every other one)",
                                  text);
    return CDX_OK;
}

size_t cdx_provider_spec_format(const cdx_provider_spec *spec, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap)
        buf[0] = '\0';
    for (int i = 0; i < spec->n_entries && n < cap; i++) {
        const cdx_provider_entry *e = &spec->entries[i];
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ";" : "", cdx_provider_name(e->provider));
        for (int j = 0; j < e->n_options && n < cap; j++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s=%s", j ? "," : ":", e->options[j].key, e->options[j].value);
    }
    return n < cap ? n : (cap ? cap - 1 : 0);
}

const char *cdx_provider_entry_get(const cdx_provider_entry *e, const char *key)
{
    for (int i = 0; i < e->n_options; i++)
        if (strcmp(e->options[i].key, key) == 0)
            return e->options[i].value;
    return NULL;
}

const cdx_provider_entry *cdx_provider_spec_cpu(const cdx_provider_spec *spec)
{
    for (int i = 0; i < spec->n_entries; i++)
        if (spec->entries[i].provider == CDX_PROVIDER_CPU)
            return &spec->entries[i];
    return NULL;
}

const char *cdx_opt_level_name(int32_t ort_level)
{
    for (int i = 0; opt_names[i]; i++)
        if (atoi(opt_levels[i]) == ort_level)
            return opt_names[i];
    return "?";
}

int cdx_provider_session_settings(const cdx_provider_spec *spec, cdx_session_settings *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    out->inter_threads = 1;
    out->opt_level = ORT_ENABLE_ALL;
    out->arena = 1;
    out->spinning = -1;
    const cdx_provider_entry *cpu = cdx_provider_spec_cpu(spec);
    if (!cpu)
        return CDX_OK;
    const struct opt_def *od = opt_def(provider_def(CDX_PROVIDER_CPU), "opt");
    const char *v;
    if ((v = cdx_provider_entry_get(cpu, "threads")))
        out->intra_threads = atoi(v);
    if ((v = cdx_provider_entry_get(cpu, "inter_threads")))
        out->inter_threads = atoi(v);
    if ((v = cdx_provider_entry_get(cpu, "opt")))
        out->opt_level = atoi(opt_levels[enum_index(od, v)]);
    if ((v = cdx_provider_entry_get(cpu, "arena")))
        out->arena = parse_bool(v);
    if ((v = cdx_provider_entry_get(cpu, "spin")))
        out->spinning = parse_bool(v);
    if ((v = cdx_provider_entry_get(cpu, "cache"))) {
        if (strlen(v) >= sizeof out->cache_dir)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec: cpu:cache=%s: path too long", v);
        snprintf(out->cache_dir, sizeof out->cache_dir, "%s", v);
    }
    return CDX_OK;
}

int cdx_provider_entry_ort_options(const cdx_provider_entry *e, const char **keys, const char **values, int cap)
{
    const struct provider_def *pd = provider_def(e->provider);
    int n = 0;
    for (int i = 0; i < e->n_options && n < cap; i++) {
        const struct opt_def *od = opt_def(pd, e->options[i].key);
        if (!od || !od->ort_key)
            continue;
        keys[n] = od->ort_key;
        switch (od->kind) {
        case OPT_ENUM:
            values[n] = od->ort_values[enum_index(od, e->options[i].value)];
            break;
        case OPT_BOOL:
            values[n] = parse_bool(e->options[i].value) ? "1" : "0";
            break;
        default:
            values[n] = e->options[i].value;
            break;
        }
        n++;
    }
    return n;
}

static int is_available(const char *ort_name, const char (*available)[48], int n_available)
{
    for (int i = 0; i < n_available; i++)
        if (strcmp(available[i], ort_name) == 0)
            return 1;
    return 0;
}

/* Appends one non-CPU entry through ORT's API for that provider. */
static int append_entry(const cdx_provider_entry *e, OrtSessionOptions *so, cdx_errbuf *eb)
{
    const OrtApi *api = cdx_ort();
    const char *keys[CDX_PROVIDER_MAX_OPTIONS], *values[CDX_PROVIDER_MAX_OPTIONS];
    int n = cdx_provider_entry_ort_options(e, keys, values, CDX_PROVIDER_MAX_OPTIONS);
    switch (e->provider) {
    case CDX_PROVIDER_COREML:
        return cdx_ort_check(api->SessionOptionsAppendExecutionProvider(so, "CoreML", keys, values, (size_t)n), eb,
                             "append provider coreml");
    case CDX_PROVIDER_CUDA: {
        OrtCUDAProviderOptionsV2 *cu = NULL;
        int rc = cdx_ort_check(api->CreateCUDAProviderOptions(&cu), eb, "append provider cuda");
        if (rc == CDX_OK)
            rc = cdx_ort_check(api->UpdateCUDAProviderOptions(cu, keys, values, (size_t)n), eb,
                               "cuda provider options");
        if (rc == CDX_OK)
            rc = cdx_ort_check(api->SessionOptionsAppendExecutionProvider_CUDA_V2(so, cu), eb, "append provider cuda");
        if (cu)
            api->ReleaseCUDAProviderOptions(cu);
        return rc;
    }
    case CDX_PROVIDER_CPU:
        return CDX_OK; /* ORT always has the CPU provider, after the others */
    }
    return cdx_errbuf_set(eb, CDX_ERR_INTERNAL, "provider %d has no append path", (int)e->provider);
}

int cdx_provider_spec_apply(const cdx_provider_spec *spec, void *ort_session_options, const char (*available)[48],
                            int n_available, char *used_out, size_t used_cap, cdx_errbuf *eb)
{
    OrtSessionOptions *so = ort_session_options;
    size_t used_len = 0;
    if (used_cap)
        used_out[0] = '\0';
    for (int i = 0; i < spec->n_entries; i++) {
        const cdx_provider_entry *e = &spec->entries[i];
        const char *ort_name = cdx_provider_ort_name(e->provider);
        int later = i + 1 < spec->n_entries;
        cdx_errbuf why = {0};
        int rc;
        if (!is_available(ort_name, available, n_available)) {
            char have[512];
            size_t n = 0;
            have[0] = '\0';
            for (int j = 0; j < n_available; j++)
                n += (size_t)snprintf(have + n, sizeof have - n, "%s%s", j ? ", " : "", available[j]);
            rc = cdx_errbuf_set(&why, CDX_ERR_PROVIDER, "provider %s (%s) is not in this ONNX Runtime build (it has: %s)",
                                cdx_provider_name(e->provider), ort_name, have);
        } else {
            rc = append_entry(e, so, &why);
        }
        if (rc != CDX_OK) {
            if (later) {
                cdx_log_warn("providers", "%s; the next entry in the spec takes over", cdx_errbuf_msg(&why));
                continue;
            }
            return cdx_errbuf_set(eb, CDX_ERR_PROVIDER,
                                  "%s. Name a provider this build has (see clipdex doctor), add ';cpu' to allow the "
                                  "CPU provider explicitly, or point ONNXRUNTIME_ROOT at an ORT build with it",
                                  cdx_errbuf_msg(&why));
        }
        if (used_len < used_cap)
            used_len += (size_t)snprintf(used_out + used_len, used_cap - used_len, "%s%s", used_len ? "," : "",
                                         cdx_provider_name(e->provider));
    }
    if (!cdx_provider_spec_cpu(spec)) {
        /* No cpu entry: nodes the chosen providers cannot run must fail the
         * session, not drift silently onto the CPU. */
        int rc = cdx_ort_check(cdx_ort()->AddSessionConfigEntry(so, "session.disable_cpu_ep_fallback", "1"), eb,
                               "disable CPU fallback");
        if (rc != CDX_OK)
            return rc;
    }
    return CDX_OK;
}
