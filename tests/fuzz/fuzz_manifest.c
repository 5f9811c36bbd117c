/* Fuzz target: manifest parsing in every format. The first byte picks the
 * format (or sniffing under a neutral name); the rest is the manifest. Every
 * row must have a non-empty uri without NULs, a caption that is valid UTF-8
 * and metadata that is a JSON object; lines never go backwards; bad rows
 * never stop the parse before the end. */
#include "ingest/manifest.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const names[] = {"stdin", "m.txt", "m.csv", "m.tsv", "m.jsonl"};
    enum cdx_manifest_format format = (enum cdx_manifest_format)(data[0] % 5);
    const char *name = names[(data[0] / 5) % 5];
    FILE *f = fmemopen((void *)(data + 1), size - 1 ? size - 1 : 1, "rb");
    if (!f)
        return 0;
    if (size == 1)
        fgetc(f); /* an empty stream */
    cdx_manifest *m = NULL;
    cdx_errbuf eb;
    if (cdx_manifest_open(f, name, format, &m, &eb) == CDX_OK) {
        cdx_manifest_row row;
        int r;
        int64_t last = 0;
        size_t rows = 0;
        while ((r = cdx_manifest_next(m, &row, &eb)) != 0) {
            if (++rows > size + 1)
                abort(); /* more rows than bytes: a loop */
            if (cdx_manifest_row_line(m) < last)
                abort();
            last = cdx_manifest_row_line(m);
            if (r != 1) {
                if (r != CDX_ERR_PARSE && r != CDX_ERR_TOOBIG)
                    break;
                continue;
            }
            if (!row.uri || !row.uri[0] || row.line != last)
                abort();
            if (row.caption) {
                json_t *c = json_string(row.caption);
                if (!c)
                    abort(); /* not valid UTF-8 */
                json_decref(c);
            }
            if (row.meta_json) {
                json_t *j = json_loads(row.meta_json, 0, NULL);
                if (!json_is_object(j))
                    abort();
                json_decref(j);
            }
        }
    }
    cdx_manifest_close(m);
    fclose(f);
    return 0;
}
