/* File I/O for index checkpoints: every write, fsync and rename the index
 * files see goes through here, so tests can inject ENOSPC or EIO at any one of
 * them (cdx_io_fault_set), and a file is published atomically: written to a
 * temporary name, fsynced, renamed, and its directory fsynced.
 *
 * Writers and readers are plain callbacks so the flat index (C) and the FAISS
 * shim (C++) stream through the same hashing writer. */
#ifndef CDX_INDEX_IOFILE_H
#define CDX_INDEX_IOFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/hash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns n when all n bytes went out, anything less on failure. */
typedef size_t (*cdx_write_fn)(void *ctx, const void *p, size_t n);
/* Returns the bytes read into p (n unless the input ended or failed). */
typedef size_t (*cdx_read_fn)(void *ctx, void *p, size_t n);

enum cdx_io_op { CDX_IO_OP_WRITE = 0, CDX_IO_OP_FSYNC = 1, CDX_IO_OP_RENAME = 2, CDX_IO_OP_COUNT = 3 };

/* Fault injection for tests (process-global): after `skip` more successful
 * calls of op, every later call fails with errno err until cleared (err 0
 * clears). cdx_io_fault_clear clears every op. Also armed from the environment
 * by cdx_io_fault_from_env: CDX_IO_FAULT="write:ENOSPC:3" (op:errno-name:skip). */
void cdx_io_fault_set(enum cdx_io_op op, int64_t skip, int err);
void cdx_io_fault_clear(void);
void cdx_io_fault_from_env(void);

/* 0 or an errno value; partial writes and EINTR are retried. */
int cdx_io_write_all(int fd, const void *p, size_t n);
int cdx_io_fsync(int fd);
int cdx_io_rename(const char *from, const char *to);
int cdx_io_fsync_dir(const char *dir);

/* A buffered writer over a file descriptor that hashes (SHA-256) what it writes. */
typedef struct cdx_io_writer {
    int fd;
    cdx_sha256 *sha;
    unsigned char *buf;
    size_t len, cap;
    uint64_t total;
    int err;          /* first errno seen; later writes are dropped */
} cdx_io_writer;

int cdx_io_writer_init(cdx_io_writer *w, int fd);
/* A cdx_write_fn; ctx is the cdx_io_writer. */
size_t cdx_io_writer_put(void *w, const void *p, size_t n);
/* Flushes; digest gets the SHA-256 of everything written. 0 or an errno. */
int cdx_io_writer_finish(cdx_io_writer *w, uint8_t digest[32]);
void cdx_io_writer_free(cdx_io_writer *w);

/* A buffered reader over a file descriptor (a cdx_read_fn on it). */
typedef struct cdx_io_reader {
    int fd;
    unsigned char *buf;
    size_t pos, len, cap;
    int err;
} cdx_io_reader;

int cdx_io_reader_init(cdx_io_reader *r, int fd);
size_t cdx_io_reader_get(void *r, void *p, size_t n);
void cdx_io_reader_free(cdx_io_reader *r);

/* Writes dir/name atomically: body(ctx, write_fn, write_ctx) streams the
 * content, then temp file fsync, rename over dir/name, fsync of dir. On any
 * failure the temp file is removed, dir/name is untouched, and eb names the
 * step, the path and the errno. sha256 (may be NULL) gets the content's
 * digest, *bytes (may be NULL) its size. */
typedef int (*cdx_io_body_fn)(void *ctx, cdx_write_fn w, void *wctx, cdx_errbuf *eb);
int cdx_io_write_atomic(const char *dir, const char *name, cdx_io_body_fn body, void *ctx, uint8_t sha256[32],
                        uint64_t *bytes, cdx_errbuf *eb);

/* SHA-256 and size of an open file, read from offset 0. 0 or an errno. */
int cdx_io_sha256_fd(int fd, uint8_t digest[32], uint64_t *bytes);

#ifdef __cplusplus
}
#endif
#endif
