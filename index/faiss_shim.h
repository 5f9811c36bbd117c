/* C API over the parts of FAISS clipdex uses. Debian's libfaiss-dev ships the
 * C API headers without their implementation, so this shim is ours: C++ inside,
 * extern "C" outside, and no exception ever crosses it. */
#ifndef CDX_INDEX_FAISS_SHIM_H
#define CDX_INDEX_FAISS_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

/* FAISS version clipdex was built against, e.g. "1.7.3". Static string. */
const char *cdx_faiss_version(void);

#ifdef __cplusplus
}
#endif
#endif
