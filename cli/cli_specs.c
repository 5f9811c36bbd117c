/* Splitting a --providers argument that holds several provider specs. */
#include "cli/cli.h"

#include "encoder/providers.h"

#include <stdio.h>
#include <string.h>

int cdx_cli_split_specs(const char *arg, char specs[][512], int *n, int max)
{
    const char *start = arg;
    for (const char *p = arg;; p++) {
        int boundary = *p == '\0';
        if (*p == ',') {
            size_t len = strcspn(p + 1, ":;,");
            boundary = cdx_provider_from_name(p + 1, len) >= 0;
        }
        if (!boundary)
            continue;
        if (*n == max)
            return -1;
        snprintf(specs[*n], 512, "%.*s", (int)(p - start), start);
        (*n)++;
        if (*p == '\0')
            return 0;
        start = p + 1;
    }
}
