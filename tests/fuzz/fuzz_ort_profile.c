/* Fuzz target: the placement report over arbitrary ORT profile JSON and log
 * lines (the first byte chooses which). */
#include "encoder/placement.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cdx_placement_report r;
    cdx_errbuf eb;
    cdx_placement_init(&r);
    if (data[0] & 1) {
        char *text = malloc(size);
        if (!text)
            return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            cdx_placement_feed_log(&r, line);
        free(text);
    } else {
        cdx_placement_feed_profile(&r, (const char *)data + 1, size - 1, &eb);
    }
    cdx_placement_finish(&r, "CUDAExecutionProvider");
    char buf[1024];
    cdx_placement_format(&r, buf, sizeof buf);
    return 0;
}
