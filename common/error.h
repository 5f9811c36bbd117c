/* clipdex error vocabulary: one list of status codes for every module.
 *
 * Functions return int: CDX_OK (0) or a negative CDX_ERR_* code. The code says
 * what kind of failure it was; the detail (which file, which field, what to do)
 * goes on the handle or request that failed, like sqlite3_errmsg. */
#ifndef CDX_COMMON_ERROR_H
#define CDX_COMMON_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, exit code, description). The exit code is what the CLI returns when
 * this error ends a command: 2 usage, 3 bad input, 4 environment/runtime,
 * 5 data integrity, 6 overloaded / try later. */
#define CDX_ERR_MAP(X)                                                         \
    X(NOMEM, 4, "out of memory")                                               \
    X(INVAL, 2, "invalid argument")                                            \
    X(IO, 4, "input/output error")                                             \
    X(NOTFOUND, 3, "not found")                                                \
    X(EXISTS, 3, "already exists")                                             \
    X(PARSE, 3, "malformed input")                                             \
    X(CONTRACT, 3, "contract violation")                                       \
    X(MISMATCH, 3, "does not match the contract")                              \
    X(UNSUPPORTED, 3, "unsupported")                                           \
    X(TOOBIG, 3, "input exceeds a limit")                                      \
    X(DECODE, 3, "image decode failed")                                        \
    X(TIMEOUT, 6, "deadline exceeded")                                         \
    X(FULL, 6, "queue full")                                                   \
    X(CLOSED, 4, "closed")                                                     \
    X(AGAIN, 6, "try again")                                                   \
    X(PROVIDER, 4, "execution provider unavailable")                           \
    X(FALLBACK, 4, "CPU fallback above the allowed ratio")                     \
    X(ORT, 4, "ONNX Runtime error")                                            \
    X(SQLITE, 4, "SQLite error")                                               \
    X(INDEX, 4, "vector index error")                                          \
    X(CORRUPT, 5, "data corrupt")                                              \
    X(INTERRUPTED, 4, "interrupted")                                           \
    X(INTERNAL, 4, "internal error")

enum cdx_err {
    CDX_OK = 0,
#define CDX_ERR_ENUM_(name, exitcode, desc) CDX_ERR_##name,
    CDX_ERR_FIRST_ = -1000,
    CDX_ERR_MAP(CDX_ERR_ENUM_)
#undef CDX_ERR_ENUM_
    CDX_ERR_LAST_
};

/* Static description of a status code; never NULL, "unknown error" for codes
 * outside the list. */
const char *cdx_strerror(int err);

/* Short stable name, e.g. "NOTFOUND" for CDX_ERR_NOTFOUND; used in JSON
 * errors and logs. "OK" for CDX_OK. */
const char *cdx_errname(int err);

/* Process exit code for a command that failed with err (0 for CDX_OK). */
int cdx_exit_code(int err);

/* Fixed-size error detail buffer embedded in handles and requests.
 * cdx_errbuf_set formats into it and returns err, so call sites read
 *     return cdx_errbuf_set(&h->err, CDX_ERR_IO, "open %s: %s", path, strerror(errno)); */
#define CDX_ERRMSG_MAX 512
typedef struct cdx_errbuf {
    int code;
    char msg[CDX_ERRMSG_MAX];
} cdx_errbuf;

int cdx_errbuf_set(cdx_errbuf *eb, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cdx_errbuf_clear(cdx_errbuf *eb);
/* The message, or the code's description when no detail was set. */
const char *cdx_errbuf_msg(const cdx_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
