/* Small macros every module uses. Header-only. */
#ifndef CDX_COMMON_UTIL_H
#define CDX_COMMON_UTIL_H

#include <stdlib.h>

#define CDX_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CDX_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CDX_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Free and NULL in one step, so a cleanup path may run twice safely. */
#define CDX_FREE(p)                                                            \
    do {                                                                       \
        free(p);                                                               \
        (p) = NULL;                                                            \
    } while (0)

/* For our own invariants only, never for users' input (STYLE.md rule 8):
 * a broken invariant is a clipdex bug, reported with its location. */
#define CDX_ASSERT(cond)                                                       \
    do {                                                                       \
        if (!(cond))                                                           \
            cdx_assert_fail(#cond, __FILE__, __LINE__);                        \
    } while (0)

#ifdef __cplusplus
extern "C" {
#endif
__attribute__((noreturn)) void cdx_assert_fail(const char *cond, const char *file, int line);
#ifdef __cplusplus
}
#endif

#endif
