/* The one place a broken internal invariant ends the process. */
#include "common/util.h"

#include "common/log.h"

#include <stdlib.h>

void cdx_assert_fail(const char *cond, const char *file, int line)
{
    cdx_log_error("assert", "internal error: %s at %s:%d; please report this as a clipdex bug", cond,
                  file, line);
    abort();
}
