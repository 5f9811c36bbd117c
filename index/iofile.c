/* Index file I/O: the one place checkpoints touch the disk, with a fault
 * hook per operation so the tests can make any write, fsync or rename fail
 * with ENOSPC or EIO and check that nothing acknowledged is lost. */
#include "index/iofile.h"

#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct {
    _Atomic int64_t skip[CDX_IO_OP_COUNT];
    _Atomic int err[CDX_IO_OP_COUNT];
} faults;

void cdx_io_fault_set(enum cdx_io_op op, int64_t skip, int err)
{
    if ((unsigned)op >= CDX_IO_OP_COUNT)
        return;
    atomic_store(&faults.skip[op], skip);
    atomic_store(&faults.err[op], err);
}

void cdx_io_fault_clear(void)
{
    for (int i = 0; i < CDX_IO_OP_COUNT; i++)
        cdx_io_fault_set((enum cdx_io_op)i, 0, 0);
}

void cdx_io_fault_from_env(void)
{
    static const struct {
        const char *name;
        enum cdx_io_op op;
    } ops[] = {{"write", CDX_IO_OP_WRITE}, {"fsync", CDX_IO_OP_FSYNC}, {"rename", CDX_IO_OP_RENAME}};
    static const struct {
        const char *name;
        int err;
    } errs[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}};
    const char *v = getenv("CDX_IO_FAULT");
    if (!v)
        return;
    char op[16] = "", en[16] = "";
    long long skip = 0;
    if (sscanf(v, "%15[a-z]:%15[A-Z]:%lld", op, en, &skip) < 2)
        return;
    for (size_t i = 0; i < CDX_ARRAY_LEN(ops); i++)
        for (size_t j = 0; j < CDX_ARRAY_LEN(errs); j++)
            if (strcmp(op, ops[i].name) == 0 && strcmp(en, errs[j].name) == 0)
                cdx_io_fault_set(ops[i].op, skip, errs[j].err);
}

/* 0 to go ahead, or the errno to fail this call with. */
static int fault(enum cdx_io_op op)
{
    int err = atomic_load(&faults.err[op]);
    if (!err)
        return 0;
    if (atomic_fetch_sub(&faults.skip[op], 1) > 0)
        return 0;
    atomic_store(&faults.skip[op], 0);
    return err;
}

int cdx_io_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        int f = fault(CDX_IO_OP_WRITE);
        if (f)
            return f;
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int cdx_io_fsync(int fd)
{
    int f = fault(CDX_IO_OP_FSYNC);
    if (f)
        return f;
    return fsync(fd) == 0 ? 0 : errno;
}

int cdx_io_rename(const char *from, const char *to)
{
    int f = fault(CDX_IO_OP_RENAME);
    if (f)
        return f;
    return rename(from, to) == 0 ? 0 : errno;
}

int cdx_io_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = cdx_io_fsync(fd);
    close(fd);
    return rc;
}

#define IO_BUF (1u << 20)

int cdx_io_writer_init(cdx_io_writer *w, int fd)
{
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->cap = IO_BUF;
    w->buf = malloc(w->cap);
    if (!w->buf || cdx_sha256_init(&w->sha) != CDX_OK) {
        cdx_io_writer_free(w);
        return ENOMEM;
    }
    return 0;
}

static void writer_flush(cdx_io_writer *w)
{
    if (w->len && !w->err)
        w->err = cdx_io_write_all(w->fd, w->buf, w->len);
    w->len = 0;
}

size_t cdx_io_writer_put(void *ctx, const void *p, size_t n)
{
    cdx_io_writer *w = ctx;
    if (w->err)
        return 0;
    cdx_sha256_update(w->sha, p, n);
    w->total += n;
    const char *c = p;
    size_t left = n;
    while (left > 0) {
        size_t take = CDX_MIN(left, w->cap - w->len);
        memcpy(w->buf + w->len, c, take);
        w->len += take;
        c += take;
        left -= take;
        if (w->len == w->cap)
            writer_flush(w);
        if (w->err)
            return 0;
    }
    return n;
}

int cdx_io_writer_finish(cdx_io_writer *w, uint8_t digest[32])
{
    writer_flush(w);
    cdx_sha256_final(w->sha, digest);
    return w->err;
}

void cdx_io_writer_free(cdx_io_writer *w)
{
    cdx_sha256_free(w->sha);
    w->sha = NULL;
    CDX_FREE(w->buf);
}

int cdx_io_reader_init(cdx_io_reader *r, int fd)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->cap = IO_BUF;
    r->buf = malloc(r->cap);
    return r->buf ? 0 : ENOMEM;
}

size_t cdx_io_reader_get(void *ctx, void *p, size_t n)
{
    cdx_io_reader *r = ctx;
    char *c = p;
    size_t got = 0;
    while (got < n && !r->err) {
        if (r->pos == r->len) {
            if (n - got >= r->cap) { /* large reads bypass the buffer */
                ssize_t k = read(r->fd, c + got, n - got);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0) {
                    r->err = k < 0 ? errno : 0;
                    break;
                }
                got += (size_t)k;
                continue;
            }
            ssize_t k = read(r->fd, r->buf, r->cap);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                r->err = k < 0 ? errno : 0;
                break;
            }
            r->pos = 0;
            r->len = (size_t)k;
        }
        size_t take = CDX_MIN(n - got, r->len - r->pos);
        memcpy(c + got, r->buf + r->pos, take);
        r->pos += take;
        got += take;
    }
    return got;
}

void cdx_io_reader_free(cdx_io_reader *r) { CDX_FREE(r->buf); }

int cdx_io_sha256_fd(int fd, uint8_t digest[32], uint64_t *bytes)
{
    cdx_sha256 *s;
    if (cdx_sha256_init(&s) != CDX_OK)
        return ENOMEM;
    unsigned char *buf = malloc(IO_BUF);
    int err = buf ? 0 : ENOMEM;
    uint64_t total = 0;
    off_t off = 0;
    while (!err) {
        ssize_t k = pread(fd, buf, IO_BUF, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            err = errno;
        if (k <= 0)
            break;
        cdx_sha256_update(s, buf, (size_t)k);
        off += k;
        total += (uint64_t)k;
    }
    cdx_sha256_final(s, digest);
    cdx_sha256_free(s);
    free(buf);
    if (bytes)
        *bytes = total;
    return err;
}

int cdx_io_write_atomic(const char *dir, const char *name, cdx_io_body_fn body, void *ctx, uint8_t sha256[32],
                        uint64_t *bytes, cdx_errbuf *eb)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
    cdx_io_writer w = {.fd = -1};
    uint8_t digest[32];
    int rc = CDX_OK, err;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "create %s: %s", tmp, strerror(errno));
        goto done;
    }
    if ((err = cdx_io_writer_init(&w, fd))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "write %s: out of memory", tmp);
        goto done;
    }
    rc = body(ctx, cdx_io_writer_put, &w, eb);
    err = cdx_io_writer_finish(&w, digest);
    if (err) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "write %s: %s", tmp, strerror(err));
        goto done;
    }
    if (rc != CDX_OK)
        goto done;
    if ((err = cdx_io_fsync(fd))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "fsync %s: %s", tmp, strerror(err));
        goto done;
    }
    close(fd);
    fd = -1;
    if ((err = cdx_io_rename(tmp, path))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "rename %s to %s: %s", tmp, path, strerror(err));
        goto done;
    }
    if ((err = cdx_io_fsync_dir(dir))) {
        /* The rename happened but may not be durable: report it, so the caller
         * does not publish anything that names the new file. */
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "fsync directory %s after renaming %s: %s", dir, name, strerror(err));
        goto done;
    }
    if (sha256)
        memcpy(sha256, digest, 32);
    if (bytes)
        *bytes = w.total;
done:
    if (fd >= 0)
        close(fd);
    if (rc != CDX_OK)
        unlink(tmp);
    cdx_io_writer_free(&w);
    return rc;
}
