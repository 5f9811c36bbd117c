// FAISS shim: the extern "C" surface over FAISS's C++ API. Every entry point
// catches every exception and turns it into a clipdex error code and message.
#include "index/faiss_shim.h"

#include <faiss/Index.h>

#define CDX_STR2(x) #x
#define CDX_STR(x) CDX_STR2(x)

extern "C" const char *cdx_faiss_version(void)
{
    return CDX_STR(FAISS_VERSION_MAJOR) "." CDX_STR(FAISS_VERSION_MINOR) "." CDX_STR(FAISS_VERSION_PATCH);
}
