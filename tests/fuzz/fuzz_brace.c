/* Fuzz target: brace expansion of source specs. Expansion stays within the
 * limit, never returns NULL names, and a pattern without '{' is itself. */
#include "ingest/source.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 512)
        return 0;
    char *pattern = malloc(size + 1);
    if (!pattern)
        return 0;
    memcpy(pattern, data, size);
    pattern[size] = '\0';
    char **list = NULL;
    size_t n = 0;
    cdx_errbuf eb;
    if (cdx_brace_expand(pattern, 2000, &list, &n, &eb) == CDX_OK) {
        if (n < 1 || n > 2000 || list[n] != NULL)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!list[i])
                abort();
        if (!strchr(pattern, '{') && (n != 1 || strcmp(list[0], pattern) != 0))
            abort();
    } else if (list) {
        abort();
    }
    cdx_brace_free(list);
    /* Paths: normalization is idempotent and absolute. */
    char *a = cdx_path_absolute(pattern, "/base");
    if (a) {
        char *b = cdx_path_absolute(a, NULL);
        if (!b || a[0] != '/' || strcmp(a, b) != 0)
            abort();
        free(b);
    }
    free(a);
    free(pattern);
    return 0;
}
