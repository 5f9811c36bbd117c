/* cdx_synth_store: adds N synthetic items with random L2-normalized vectors
 * to a data directory, through the store's own write path, for server
 * benchmarks that need a large catalog without embedding that many images
 * (tools/bench/server_bench.sh). The vectors are uniform on the unit sphere
 * of the contract's dimension, so a search scans (flat) or walks (HNSW) a
 * catalog of realistic size and layout; they mean nothing, and each item's
 * uri (synth:<n>) and caption say so.
 *
 *   cdx_synth_store --data DIR [--contract C] --items N [--seed S] [--batch B] [--index SPEC]
 *
 * Idempotent: item n is keyed by its uri, so a second run replaces rather
 * than adds. Prints the store's info as one JSON line when done. */
#include "common/error.h"
#include "common/hash.h"
#include "contracts/contract.h"
#include "index/store.h"

#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64 and Box-Muller: reproducible from --seed on every platform. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double next_unit(uint64_t *s) { return ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0; }

static void random_unit_vector(uint64_t *s, float *v, int32_t dim)
{
    double norm = 0;
    for (int32_t d = 0; d < dim; d += 2) {
        double r = sqrt(-2.0 * log(next_unit(s))), t = 2.0 * M_PI * next_unit(s);
        v[d] = (float)(r * cos(t));
        if (d + 1 < dim)
            v[d + 1] = (float)(r * sin(t));
    }
    for (int32_t d = 0; d < dim; d++)
        norm += (double)v[d] * v[d];
    float inv = (float)(1.0 / sqrt(norm));
    for (int32_t d = 0; d < dim; d++)
        v[d] *= inv;
}

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: cdx_synth_store --data DIR [--contract C] --items N [--seed S] [--batch B] [--index SPEC]\n"
            "Adds N synthetic items (uri synth:<n>, random unit vectors of the contract's dimension) to DIR,\n"
            "creating it when missing. C defaults to the embedded contract.\n");
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"contract", required_argument, NULL, 'c'},
                                         {"items", required_argument, NULL, 'n'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"index", required_argument, NULL, 'i'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *data = NULL, *contract_path = NULL, *index_spec = NULL;
    long long n = -1, batch = 2000;
    uint64_t seed = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'c': contract_path = optarg; break;
        case 'n': n = atoll(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'b': batch = atoll(optarg); break;
        case 'i': index_spec = optarg; break;
        case 'h': return usage(0);
        default: return usage(2);
        }
    }
    if (!data || n < 0 || batch < 1 || optind < argc)
        return usage(2);

    cdx_errbuf eb = {0};
    cdx_contract *contract = NULL;
    cdx_store *store = NULL;
    cdx_item *items = NULL;
    float *vecs = NULL;
    char (*uris)[32] = NULL, (*caps)[48] = NULL, (*metas)[64] = NULL;
    char path[CDX_CONTRACT_PATH_MAX];
    int rc = CDX_OK;
    if (!contract_path) {
        rc = cdx_contract_default_path(path, sizeof path, &eb);
        contract_path = path;
    }
    cdx_contract_params cp = cdx_contract_default_params();
    if (rc == CDX_OK)
        rc = cdx_contract_open(contract_path, &cp, &contract, &eb);
    cdx_store_params sp = cdx_store_default_params();
    sp.synchronous = CDX_SYNC_NORMAL; /* a generated catalog: rerunnable, no need to fsync every batch */
    if (index_spec)
        sp.index_spec = index_spec;
    if (rc == CDX_OK)
        rc = cdx_store_open(data, contract, &sp, &store, &eb);
    if (rc != CDX_OK)
        goto done;
    int32_t dim = cdx_contract_get(contract)->dim;
    items = calloc((size_t)batch, sizeof *items);
    vecs = malloc((size_t)batch * (size_t)dim * sizeof *vecs);
    uris = malloc((size_t)batch * sizeof *uris);
    caps = malloc((size_t)batch * sizeof *caps);
    metas = malloc((size_t)batch * sizeof *metas);
    if (!items || !vecs || !uris || !caps || !metas) {
        rc = cdx_errbuf_set(&eb, CDX_ERR_NOMEM, "out of memory");
        goto done;
    }
    static const char *const shapes[] = {"circle", "square", "triangle", "star", "ring", "diamond"};
    for (long long done_n = 0; done_n < n && rc == CDX_OK;) {
        int32_t m = (int32_t)(n - done_n < batch ? n - done_n : batch);
        for (int32_t i = 0; i < m; i++) {
            long long k = done_n + i;
            snprintf(uris[i], sizeof uris[i], "synth:%lld", k);
            snprintf(caps[i], sizeof caps[i], "synthetic item %lld", k);
            snprintf(metas[i], sizeof metas[i], "{\"shape\":\"%s\",\"n\":%lld,\"synthetic\":true}", shapes[k % 6], k);
            random_unit_vector(&seed, vecs + (size_t)i * (size_t)dim, dim);
            items[i] = (cdx_item){.uri = uris[i],
                                  .content_hash = cdx_hash128_bytes(uris[i], strlen(uris[i])),
                                  .bytes = 0,
                                  .width = 64,
                                  .height = 64,
                                  .caption = caps[i],
                                  .meta_json = metas[i]};
        }
        rc = cdx_store_put_batch(store, items, vecs, NULL, m, &eb);
        done_n += m;
    }
    if (rc == CDX_OK)
        rc = cdx_store_checkpoint(store, &eb);
    cdx_store_info info;
    if (rc == CDX_OK && (rc = cdx_store_get_info(store, &info, &eb)) == CDX_OK)
        printf("{\"items\": %lld, \"dim\": %d, \"index\": \"%s\", \"indexed\": %lld, \"memory_bytes\": %llu}\n",
               (long long)info.items, info.dim, info.space[CDX_SPACE_IMAGE].spec,
               (long long)info.space[CDX_SPACE_IMAGE].indexed,
               (unsigned long long)info.space[CDX_SPACE_IMAGE].memory_bytes);
done:
    free(items);
    free(vecs);
    free(uris);
    free(caps);
    free(metas);
    cdx_store_close(store);
    cdx_contract_close(contract);
    if (rc != CDX_OK) {
        fprintf(stderr, "cdx_synth_store: %s: %s\n", data ? data : "?", cdx_errbuf_msg(&eb));
        return 4;
    }
    return 0;
}
