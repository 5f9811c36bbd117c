/* Process-wide logging to stderr, as text or as JSON lines.
 *
 * Every line names a component ("ort", "ingest", "http") so a reader can grep
 * one subsystem. Lines are written with one write(2) each, so concurrent
 * threads never interleave inside a line. */
#ifndef CDX_COMMON_LOG_H
#define CDX_COMMON_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum cdx_log_level {
    CDX_LOG_LEVEL_ERROR = 0,
    CDX_LOG_LEVEL_WARN = 1,
    CDX_LOG_LEVEL_INFO = 2,
    CDX_LOG_LEVEL_DEBUG = 3,
    CDX_LOG_LEVEL_TRACE = 4,
};

enum cdx_log_format {
    CDX_LOG_FORMAT_TEXT = 0,
    CDX_LOG_FORMAT_JSON = 1,
};

/* Reads CDX_LOG_LEVEL (error|warn|info|debug|trace) and CDX_LOG_FORMAT
 * (text|json) from the environment; unknown values are ignored with a warning.
 * Safe to call more than once. */
void cdx_log_init_from_env(void);
void cdx_log_set_level(enum cdx_log_level level);
void cdx_log_set_format(enum cdx_log_format format);
enum cdx_log_level cdx_log_get_level(void);
/* Parses a level name; returns -1 when the name is not a level. */
int cdx_log_level_from_name(const char *name);

void cdx_log(enum cdx_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cdx_log_error(comp, ...) cdx_log(CDX_LOG_LEVEL_ERROR, comp, __VA_ARGS__)
#define cdx_log_warn(comp, ...) cdx_log(CDX_LOG_LEVEL_WARN, comp, __VA_ARGS__)
#define cdx_log_info(comp, ...) cdx_log(CDX_LOG_LEVEL_INFO, comp, __VA_ARGS__)
#define cdx_log_debug(comp, ...) cdx_log(CDX_LOG_LEVEL_DEBUG, comp, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
