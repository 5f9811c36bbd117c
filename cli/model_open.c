/* Opening the model for data-directory commands: the contract (the embedded
 * default when none is named) and its encoder, with the thread budget's ORT
 * and libvips sizes unless the caller set them. */
#include "cli/cli.h"

#include "common/threads.h"

#include <stdio.h>

int cdx_cli_open_model(const char *contract_path, cdx_encoder_params *ep, cdx_contract **contract,
                       cdx_encoder **enc, cdx_errbuf *eb)
{
    *contract = NULL;
    *enc = NULL;
    char path[CDX_CONTRACT_PATH_MAX];
    int rc = CDX_OK;
    if (!contract_path) {
        rc = cdx_contract_default_path(path, sizeof path, eb);
        contract_path = path;
    }
    cdx_contract_params cp = cdx_contract_default_params();
    if (rc == CDX_OK)
        rc = cdx_contract_open(contract_path, &cp, contract, eb);
    cdx_threads_budget b;
    cdx_threads_current(&b);
    if (ep->threads == 0)
        ep->threads = b.ort_intra;
    ep->preprocess.vips_concurrency = b.vips;
    if (rc == CDX_OK)
        rc = cdx_encoder_open(*contract, ep, enc, eb);
    if (rc != CDX_OK) {
        cdx_encoder_close(*enc);
        cdx_contract_close(*contract);
        *enc = NULL;
        *contract = NULL;
    }
    return rc;
}
