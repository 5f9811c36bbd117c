/* Logging: formats one line into a stack buffer and writes it with a single
 * write(2) to stderr. Level and format are process globals read with relaxed
 * atomics, set once at start-up by the CLI. */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = CDX_LOG_LEVEL_INFO;
static _Atomic int log_format = CDX_LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

int cdx_log_level_from_name(const char *name)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
        if (name && strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void cdx_log_set_level(enum cdx_log_level level) { atomic_store(&log_level, (int)level); }
void cdx_log_set_format(enum cdx_log_format format) { atomic_store(&log_format, (int)format); }
enum cdx_log_level cdx_log_get_level(void) { return (enum cdx_log_level)atomic_load(&log_level); }

void cdx_log_init_from_env(void)
{
    const char *lv = getenv("CDX_LOG_LEVEL");
    if (lv && *lv) {
        int l = cdx_log_level_from_name(lv);
        if (l >= 0)
            cdx_log_set_level((enum cdx_log_level)l);
        else
            cdx_log_warn("log", "CDX_LOG_LEVEL=%s is not a level (error|warn|info|debug|trace); keeping %s",
                         lv, level_names[cdx_log_get_level()]);
    }
    const char *fm = getenv("CDX_LOG_FORMAT");
    if (fm && *fm) {
        if (strcmp(fm, "json") == 0)
            cdx_log_set_format(CDX_LOG_FORMAT_JSON);
        else if (strcmp(fm, "text") == 0)
            cdx_log_set_format(CDX_LOG_FORMAT_TEXT);
        else
            cdx_log_warn("log", "CDX_LOG_FORMAT=%s is not text|json; keeping text", fm);
    }
}

/* Appends s to buf[*len..cap) with JSON string escaping; truncates safely. */
static void append_json_escaped(char *buf, size_t cap, size_t *len, const char *s)
{
    for (; *s && *len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = (char)c;
        } else if (c == '\n') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = 'n';
        } else if (c < 0x20) {
            *len += (size_t)snprintf(buf + *len, cap - *len, "\\u%04x", c);
        } else {
            buf[(*len)++] = (char)c;
        }
    }
    buf[*len] = '\0';
}

void cdx_log(enum cdx_log_level level, const char *component, const char *fmt, ...)
{
    if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(ts.tv_nsec / 1000000) % 1000);

    char line[4096];
    size_t len = 0;
    const char *lvl = level_names[level <= CDX_LOG_LEVEL_TRACE ? level : CDX_LOG_LEVEL_TRACE];
    if (atomic_load_explicit(&log_format, memory_order_relaxed) == CDX_LOG_FORMAT_JSON) {
        len = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"", when, lvl);
        append_json_escaped(line, sizeof line - 4, &len, component ? component : "");
        len += (size_t)snprintf(line + len, sizeof line - len, "\",\"msg\":\"");
        append_json_escaped(line, sizeof line - 4, &len, msg);
        len += (size_t)snprintf(line + len, sizeof line - len, "\"}\n");
    } else {
        len = (size_t)snprintf(line, sizeof line, "%s %-5s [%s] %s\n", when, lvl,
                               component ? component : "-", msg);
    }
    if (len >= sizeof line) {
        len = sizeof line - 1;
        line[len - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
