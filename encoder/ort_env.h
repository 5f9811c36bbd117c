/* The process-wide ONNX Runtime environment.
 *
 * ORT wants one OrtEnv per process; every session is created from it. This
 * file owns it, routes ORT's own log lines into clipdex's log, and answers the
 * questions `clipdex doctor` asks: which ORT is loaded, which API version the
 * headers were built against, and which execution providers it has. */
#ifndef CDX_ENCODER_ORT_ENV_H
#define CDX_ENCODER_ORT_ENV_H

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CDX_ORT_MAX_PROVIDERS 32

typedef struct cdx_ort_info {
    char version[32];         /* library version, e.g. "1.29.0" */
    int api_version_header;   /* ORT_API_VERSION clipdex was compiled against */
    int n_providers;
    char providers[CDX_ORT_MAX_PROVIDERS][48]; /* as ORT names them, e.g. "CPUExecutionProvider" */
} cdx_ort_info;

/* Creates the environment on first use; thread-safe. Returns CDX_ERR_ORT with
 * the reason in eb when the library rejects our API version. */
int cdx_ort_env_get(void **env_out, cdx_errbuf *eb);
/* The OrtApi table (const OrtApi *); NULL when the loaded library is older than
 * the headers clipdex was built with. */
const void *cdx_ort_api(void);
int cdx_ort_info_read(cdx_ort_info *out, cdx_errbuf *eb);
/* Log taps: while a tap is registered for a session log id, every ORT message
 * logged under that id is passed to fn (from ORT's thread, synchronously) as
 * well as to clipdex's log. Towers use this to read ORT's node placement
 * while their session is created. At most 16 taps at once: CDX_ERR_FULL. */
typedef void (*cdx_ort_log_tap_fn)(void *ctx, const char *message);
int cdx_ort_log_tap_add(const char *logid, cdx_ort_log_tap_fn fn, void *ctx);
void cdx_ort_log_tap_remove(const char *logid);

/* Releases the environment at exit; sessions must be closed first. */
void cdx_ort_env_shutdown(void);

#ifdef __cplusplus
}
#endif
#endif
