/* One OrtEnv for the process, created lazily under pthread_once. ORT's log
 * callback forwards warnings and errors into cdx_log under component "ort". */
#include "encoder/ort_env.h"

#include "common/log.h"
#include "encoder/ort_util.h"

#include <stdarg.h>

#include <onnxruntime_c_api.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const OrtApi *g_api;
static OrtEnv *g_env;
static char g_env_err[256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#define MAX_TAPS 16
static pthread_mutex_t g_tap_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char logid[64];
    cdx_ort_log_tap_fn fn;
    void *ctx;
} g_taps[MAX_TAPS];

int cdx_ort_log_tap_add(const char *logid, cdx_ort_log_tap_fn fn, void *ctx)
{
    int rc = CDX_ERR_FULL;
    pthread_mutex_lock(&g_tap_mu);
    for (int i = 0; i < MAX_TAPS; i++) {
        if (!g_taps[i].fn) {
            snprintf(g_taps[i].logid, sizeof g_taps[i].logid, "%s", logid);
            g_taps[i].fn = fn;
            g_taps[i].ctx = ctx;
            rc = CDX_OK;
            break;
        }
    }
    pthread_mutex_unlock(&g_tap_mu);
    return rc;
}

void cdx_ort_log_tap_remove(const char *logid)
{
    pthread_mutex_lock(&g_tap_mu);
    for (int i = 0; i < MAX_TAPS; i++)
        if (g_taps[i].fn && strcmp(g_taps[i].logid, logid) == 0)
            g_taps[i].fn = NULL;
    pthread_mutex_unlock(&g_tap_mu);
}

static void ORT_API_CALL ort_log_cb(void *param, OrtLoggingLevel severity, const char *category,
                                    const char *logid, const char *code_location, const char *message)
{
    (void)param;
    (void)code_location;
    if (!message)
        return;
    if (logid && *logid) {
        pthread_mutex_lock(&g_tap_mu);
        for (int i = 0; i < MAX_TAPS; i++)
            if (g_taps[i].fn && strcmp(g_taps[i].logid, logid) == 0)
                g_taps[i].fn(g_taps[i].ctx, message);
        pthread_mutex_unlock(&g_tap_mu);
    }
    /* ORT says this when a profiled session failed to load; the load error
     * itself is what the user needs, so this one is only noise. */
    if (strstr(message, "Could not write a profile because no model was loaded"))
        severity = ORT_LOGGING_LEVEL_VERBOSE;
    /* Saving an optimized model warns that it is hardware specific; the cache
     * key includes the CPU's features, so that is handled. */
    if (strstr(message, "Serializing optimized model with Graph Optimization level greater than"))
        severity = ORT_LOGGING_LEVEL_INFO;
    enum cdx_log_level lv = severity >= ORT_LOGGING_LEVEL_ERROR     ? CDX_LOG_LEVEL_ERROR
                            : severity == ORT_LOGGING_LEVEL_WARNING ? CDX_LOG_LEVEL_WARN
                            : severity == ORT_LOGGING_LEVEL_INFO    ? CDX_LOG_LEVEL_DEBUG
                                                                    : CDX_LOG_LEVEL_TRACE;
    cdx_log(lv, "ort", "%s%s%s: %s", category ? category : "", logid && *logid ? " " : "", logid ? logid : "",
            message);
}

static void env_create(void)
{
    const OrtApiBase *base = OrtGetApiBase();
    g_api = base->GetApi(ORT_API_VERSION);
    if (!g_api) {
        snprintf(g_env_err, sizeof g_env_err,
                 "ONNX Runtime %s does not provide API version %d that clipdex was built with; "
                 "point ONNXRUNTIME_ROOT at ORT >= the headers' version and rebuild",
                 base->GetVersionString(), ORT_API_VERSION);
        return;
    }
    OrtStatus *st = g_api->CreateEnvWithCustomLogger(ort_log_cb, NULL, ORT_LOGGING_LEVEL_WARNING, "clipdex", &g_env);
    if (st) {
        snprintf(g_env_err, sizeof g_env_err, "create ORT environment: %s", g_api->GetErrorMessage(st));
        g_api->ReleaseStatus(st);
        g_env = NULL;
    }
}

int cdx_ort_env_get(void **env_out, cdx_errbuf *eb)
{
    pthread_once(&g_once, env_create);
    if (!g_env) {
        *env_out = NULL;
        return cdx_errbuf_set(eb, CDX_ERR_ORT, "%s", g_env_err);
    }
    *env_out = g_env;
    return CDX_OK;
}

const void *cdx_ort_api(void)
{
    pthread_once(&g_once, env_create);
    return g_api;
}

int cdx_ort_info_read(cdx_ort_info *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    const OrtApiBase *base = OrtGetApiBase();
    snprintf(out->version, sizeof out->version, "%s", base->GetVersionString());
    out->api_version_header = ORT_API_VERSION;
    const OrtApi *api = cdx_ort_api();
    if (!api)
        return cdx_errbuf_set(eb, CDX_ERR_ORT, "%s", g_env_err);
    char **names = NULL;
    int n = 0;
    OrtStatus *st = api->GetAvailableProviders(&names, &n);
    if (st) {
        int rc = cdx_errbuf_set(eb, CDX_ERR_ORT, "list ORT providers: %s", api->GetErrorMessage(st));
        api->ReleaseStatus(st);
        return rc;
    }
    for (int i = 0; i < n && i < CDX_ORT_MAX_PROVIDERS; i++)
        snprintf(out->providers[i], sizeof out->providers[i], "%s", names[i]);
    out->n_providers = n < CDX_ORT_MAX_PROVIDERS ? n : CDX_ORT_MAX_PROVIDERS;
    st = api->ReleaseAvailableProviders(names, n);
    if (st)
        api->ReleaseStatus(st);
    return CDX_OK;
}

void cdx_ort_env_shutdown(void)
{
    if (g_env && g_api) {
        g_api->ReleaseEnv(g_env);
        g_env = NULL;
    }
}

const OrtApi *cdx_ort(void) { return (const OrtApi *)cdx_ort_api(); }

int cdx_ort_check(OrtStatus *status, cdx_errbuf *eb, const char *fmt, ...)
{
    if (!status)
        return CDX_OK;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const OrtApi *api = cdx_ort();
    cdx_errbuf_set(eb, CDX_ERR_ORT, "%s: %s", what, api->GetErrorMessage(status));
    api->ReleaseStatus(status);
    return CDX_ERR_ORT;
}
