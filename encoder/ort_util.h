/* Helpers for code that calls the ORT C API directly (encoder/ internals).
 * Every OrtStatus* is converted into a cdx error and released at the call
 * site: cdx_ort_check(api->Run(...), eb, "run %s", name). */
#ifndef CDX_ENCODER_ORT_UTIL_H
#define CDX_ENCODER_ORT_UTIL_H

#include <onnxruntime_c_api.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ORT API table, or NULL when the library is too old (cdx_ort_env_get says why). */
const OrtApi *cdx_ort(void);

/* CDX_OK when status is NULL. Otherwise formats "<what>: <ORT message>" into eb,
 * releases the status and returns CDX_ERR_ORT. */
int cdx_ort_check(OrtStatus *status, cdx_errbuf *eb, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
