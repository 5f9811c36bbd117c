/* Execution provider specs: which ORT execution providers a tower runs on, in
 * which order, with which options. Never implicit.
 *
 *   spec   := entry (';' entry)*
 *   entry  := name [':' option (',' option)*]
 *   option := key '=' value
 *
 * e.g. "cpu:threads=2,opt=all", "coreml:format=mlprogram,units=cpuonly;cpu",
 * "cuda:device=0;cpu". Entries are tried in order; an entry whose provider this
 * ORT build lacks is skipped (with a warning) only when a later entry can take
 * over, and is an error otherwise. A spec without a `cpu` entry forbids ORT's
 * silent CPU fallback for unsupported nodes (session.disable_cpu_ep_fallback).
 *
 * Session-wide settings (threads, graph optimization level, arena, optimized
 * model cache, spinning) are options of the `cpu` entry; when the spec has no
 * `cpu` entry they take their defaults. */
#ifndef CDX_ENCODER_PROVIDERS_H
#define CDX_ENCODER_PROVIDERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cdx_provider {
    CDX_PROVIDER_CPU = 0,
    CDX_PROVIDER_COREML = 1,
    CDX_PROVIDER_CUDA = 2,
};

#define CDX_PROVIDER_MAX_ENTRIES 8
#define CDX_PROVIDER_MAX_OPTIONS 12

typedef struct cdx_provider_option {
    char key[32];
    char value[256];
} cdx_provider_option;

typedef struct cdx_provider_entry {
    enum cdx_provider provider;
    int32_t n_options;
    cdx_provider_option options[CDX_PROVIDER_MAX_OPTIONS];
} cdx_provider_entry;

typedef struct cdx_provider_spec {
    int32_t n_entries;
    cdx_provider_entry entries[CDX_PROVIDER_MAX_ENTRIES];
} cdx_provider_spec;

/* Parses text into out; every name, key and value is checked against the
 * provider table. CDX_ERR_INVAL with the offending part named in eb. */
int cdx_provider_spec_parse(const char *text, cdx_provider_spec *out, cdx_errbuf *eb);
/* Canonical text of a spec (names and keys as parsed, in order). Returns the
 * length written (truncated to cap-1). */
size_t cdx_provider_spec_format(const cdx_provider_spec *spec, char *buf, size_t cap);

/* Short name ("cpu") and ORT's name ("CPUExecutionProvider"). */
const char *cdx_provider_name(enum cdx_provider p);
const char *cdx_provider_ort_name(enum cdx_provider p);
/* Maps a short name (the first len bytes of name) to the provider; -1 when unknown. */
int cdx_provider_from_name(const char *name, size_t len);
/* Maps ORT's provider name back; -1 when clipdex has no entry for it. */
int cdx_provider_from_ort_name(const char *ort_name);

/* Value of an option of an entry, or NULL. Borrowed from the spec. */
const char *cdx_provider_entry_get(const cdx_provider_entry *e, const char *key);
/* The spec's cpu entry, or NULL when it has none. */
const cdx_provider_entry *cdx_provider_spec_cpu(const cdx_provider_spec *spec);

/* Session-wide settings resolved from the spec's cpu entry and defaults. */
typedef struct cdx_session_settings {
    int32_t intra_threads;    /* 0 = not set: the caller's budget decides */
    int32_t inter_threads;
    int32_t opt_level;        /* ORT GraphOptimizationLevel value */
    int32_t arena;            /* 1 on, 0 off */
    int32_t spinning;         /* 1 on, 0 off, -1 ORT's default */
    char cache_dir[256];      /* optimized-model cache directory, "" for none */
} cdx_session_settings;

int cdx_provider_session_settings(const cdx_provider_spec *spec, cdx_session_settings *out, cdx_errbuf *eb);
const char *cdx_opt_level_name(int32_t ort_level);

/* The ORT provider-option key/value pairs an entry translates to (CoreML's
 * "ModelFormat"="MLProgram", CUDA's "device_id"="0", ...). Pointers borrow from
 * static tables and from the entry. Returns the number of pairs. */
int cdx_provider_entry_ort_options(const cdx_provider_entry *e, const char **keys, const char **values,
                                   int cap);

/* Appends the spec's providers to an OrtSessionOptions (passed as void * so
 * this header does not need ORT's). available/n_available: the provider names
 * ORT reports (cdx_ort_info). used_out receives the canonical names of the
 * providers actually appended, comma-separated. */
int cdx_provider_spec_apply(const cdx_provider_spec *spec, void *ort_session_options,
                            const char (*available)[48], int n_available, char *used_out, size_t used_cap,
                            cdx_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
