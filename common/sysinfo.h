/* What machine we are on: CPU model, cores, SIMD features, OS, memory use.
 * Read by `clipdex doctor`, thread budgeting and benchmark cards. */
#ifndef CDX_COMMON_SYSINFO_H
#define CDX_COMMON_SYSINFO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CDX_SYSINFO_MAX_FEATURES 32

typedef struct cdx_sysinfo {
    char cpu_model[128];
    int cores_online;   /* sysconf(_SC_NPROCESSORS_ONLN) */
    int cores_usable;   /* CPUs in this process's affinity mask */
    int n_features;
    const char *features[CDX_SYSINFO_MAX_FEATURES]; /* static strings, e.g. "avx2", "avx512_vnni", "neon" */
    char os_name[128];    /* PRETTY_NAME from /etc/os-release, or uname sysname */
    char kernel[65];      /* uname release */
    char arch[65];        /* uname machine */
    uint64_t mem_total_bytes;
} cdx_sysinfo;

void cdx_sysinfo_read(cdx_sysinfo *out);
/* 1 when the named feature is in info->features. */
int cdx_sysinfo_has(const cdx_sysinfo *info, const char *feature);

/* Peak resident set size of this process, in bytes (getrusage). */
uint64_t cdx_peak_rss_bytes(void);
/* Current resident set size, in bytes (/proc/self/statm); 0 if unknown. */
uint64_t cdx_current_rss_bytes(void);

#ifdef __cplusplus
}
#endif
#endif
