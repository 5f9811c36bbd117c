/* Machine description. SIMD features come from CPUID (and XGETBV, so a feature
 * the OS does not save state for is not reported) on x86, and from the aux
 * vector's hardware capabilities on arm64. */
#include "common/sysinfo.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

static void add_feature(cdx_sysinfo *s, const char *name)
{
    if (s->n_features < CDX_SYSINFO_MAX_FEATURES)
        s->features[s->n_features++] = name;
}

#if defined(__x86_64__) || defined(__i386__)
static uint64_t xgetbv0(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static void read_features(cdx_sysinfo *s)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    int osxsave = (c >> 27) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int os_avx = (xcr0 & 0x6) == 0x6;
    int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    int os_amx = (xcr0 & 0x60000) == 0x60000;
    if ((c >> 20) & 1)
        add_feature(s, "sse4_2");
    if (os_avx && ((c >> 28) & 1))
        add_feature(s, "avx");
    if (os_avx && ((c >> 12) & 1))
        add_feature(s, "fma");
    if (os_avx && ((c >> 29) & 1))
        add_feature(s, "f16c");
    if (__get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned b7 = b, c7 = c, d7 = d;
    __cpuid_count(7, 1, a, b, c, d);
    unsigned a71 = a;
    if (os_avx && ((b7 >> 5) & 1))
        add_feature(s, "avx2");
    if (os_avx && ((a71 >> 4) & 1))
        add_feature(s, "avx_vnni");
    if (os_avx512) {
        if ((b7 >> 16) & 1)
            add_feature(s, "avx512f");
        if ((b7 >> 30) & 1)
            add_feature(s, "avx512bw");
        if ((b7 >> 31) & 1)
            add_feature(s, "avx512vl");
        if ((c7 >> 11) & 1)
            add_feature(s, "avx512_vnni");
        if ((a71 >> 5) & 1)
            add_feature(s, "avx512_bf16");
        if ((d7 >> 23) & 1)
            add_feature(s, "avx512_fp16");
    }
    if (os_amx) {
        if ((d7 >> 24) & 1)
            add_feature(s, "amx_tile");
        if ((d7 >> 25) & 1)
            add_feature(s, "amx_int8");
        if ((d7 >> 22) & 1)
            add_feature(s, "amx_bf16");
    }
}
#elif defined(__aarch64__)
static void read_features(cdx_sysinfo *s)
{
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (hw & HWCAP_ASIMD)
        add_feature(s, "neon");
    if (hw & HWCAP_ASIMDDP)
        add_feature(s, "dotprod");
    if (hw & HWCAP_SVE)
        add_feature(s, "sve");
#ifdef HWCAP2_I8MM
    if (hw2 & HWCAP2_I8MM)
        add_feature(s, "i8mm");
#endif
#ifdef HWCAP2_BF16
    if (hw2 & HWCAP2_BF16)
        add_feature(s, "bf16");
#endif
    (void)hw2;
}
#else
static void read_features(cdx_sysinfo *s) { (void)s; }
#endif

/* Copies the value of the first "key<ws>: value" line of path into out. */
static int read_keyed_line(const char *path, const char *key, char sep, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    size_t klen = strlen(key);
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0)
            continue;
        char *v = strchr(line + klen, sep);
        if (!v)
            continue;
        v++;
        while (*v == ' ' || *v == '\t' || *v == '"')
            v++;
        size_t n = strcspn(v, "\"\n");
        if (n >= cap)
            n = cap - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        found = 1;
        break;
    }
    fclose(f);
    return found;
}

void cdx_sysinfo_read(cdx_sysinfo *s)
{
    memset(s, 0, sizeof *s);
    if (!read_keyed_line("/proc/cpuinfo", "model name", ':', s->cpu_model, sizeof s->cpu_model))
        snprintf(s->cpu_model, sizeof s->cpu_model, "unknown");
    s->cores_online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    s->cores_usable = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : s->cores_online;
    read_features(s);
    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(s->kernel, sizeof s->kernel, "%s", u.release);
        snprintf(s->arch, sizeof s->arch, "%s", u.machine);
        snprintf(s->os_name, sizeof s->os_name, "%s", u.sysname);
    }
    read_keyed_line("/etc/os-release", "PRETTY_NAME", '=', s->os_name, sizeof s->os_name);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0)
        s->mem_total_bytes = (uint64_t)pages * (uint64_t)psz;
}

int cdx_sysinfo_has(const cdx_sysinfo *info, const char *feature)
{
    for (int i = 0; i < info->n_features; i++)
        if (strcmp(info->features[i], feature) == 0)
            return 1;
    return 0;
}

uint64_t cdx_peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u;
}

uint64_t cdx_current_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long size = 0, rss = 0;
    int n = fscanf(f, "%lu %lu", &size, &rss);
    fclose(f);
    return n == 2 ? (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}
