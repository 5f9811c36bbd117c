/* Helpers shared by the unit tests: paths into the source tree, scratch
 * directories that clean up after themselves, whole-file reads. */
#ifndef CDX_TESTUTIL_H
#define CDX_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Path under the source tree, e.g. cdx_test_src_path("models/tiny-clip"). Static buffer per call site is not
 * needed: the result is malloc'd; caller frees. */
char *cdx_test_src_path(const char *rel);
/* A fresh directory under $TMPDIR (or /tmp); caller removes it with cdx_test_rmtree and frees. */
char *cdx_test_mkdtemp(const char *tag);
/* rm -rf; ignores errors. */
void cdx_test_rmtree(const char *path);
/* Reads a whole file; NULL on error. *len gets the size. Caller frees. */
unsigned char *cdx_test_read_file(const char *path, size_t *len);
/* Writes bytes to path, creating or truncating it; 0 on success. */
int cdx_test_write_file(const char *path, const void *data, size_t len);
/* printf into a malloc'd string. */
char *cdx_test_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
