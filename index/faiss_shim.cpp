// FAISS shim: the extern "C" surface over FAISS's C++ API. Every entry point
// catches every exception and turns it into a clipdex error code and message.
//
// Debian builds libfaiss for baseline x86-64, so its inner-product kernels run
// on SSE. Where FAISS lets us plug in, we use our AVX2 kernel instead: the flat
// storage under HNSW and the IVF coarse quantizer are CdxFlatIP, an IndexFlatIP
// whose distance computer and search call index/flat.c. On disk it is a plain
// IndexFlatIP, so the files stay standard FAISS files.
#include "index/faiss_shim.h"

#include "index/flat.h"

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include <omp.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <unordered_map>
#include <vector>

#define CDX_STR2(x) #x
#define CDX_STR(x) CDX_STR2(x)

extern "C" {
// OpenBLAS's pool size; weak so a BLAS without it still links.
void openblas_set_num_threads(int) __attribute__((weak));
}

extern "C" const char *cdx_faiss_version(void)
{
    return CDX_STR(FAISS_VERSION_MAJOR) "." CDX_STR(FAISS_VERSION_MINOR) "." CDX_STR(FAISS_VERSION_PATCH);
}

namespace {

using idx_t = faiss::Index::idx_t;

// Inner-product distance computer over IndexFlatCodes storage, on our kernel.
struct CdxIPDis : faiss::FlatCodesDistanceComputer {
    const float *base;
    int d;
    const float *q = nullptr;
    CdxIPDis(const faiss::IndexFlatCodes &s)
        : faiss::FlatCodesDistanceComputer(s.codes.data(), s.code_size),
          base(reinterpret_cast<const float *>(s.codes.data())), d(s.d)
    {
    }
    void set_query(const float *x) override { q = x; }
    float distance_to_code(const uint8_t *code) override
    {
        return cdx_dot(q, reinterpret_cast<const float *>(code), d);
    }
    float symmetric_dis(idx_t i, idx_t j) override { return cdx_dot(base + i * d, base + j * d, d); }
};

struct CdxFlatIP : faiss::IndexFlatIP {
    explicit CdxFlatIP(int d) : faiss::IndexFlatIP(d) {}
    faiss::FlatCodesDistanceComputer *get_FlatCodesDistanceComputer() const override { return new CdxIPDis(*this); }
    void search(idx_t n, const float *x, idx_t k, float *distances, idx_t *labels,
                const faiss::SearchParameters *params) const override
    {
        if (params && params->sel) {
            faiss::IndexFlatIP::search(n, x, k, distances, labels, params);
            return;
        }
        int threads = omp_get_max_threads();
        int rc = cdx_flat_scan(reinterpret_cast<const float *>(codes.data()), nullptr, ntotal, d, x, n, (int32_t)k,
                               threads, labels, distances);
        if (rc == CDX_ERR_NOMEM)
            throw std::bad_alloc();
        FAISS_THROW_IF_NOT_MSG(rc == CDX_OK, "flat scan failed");
    }
};

// Moves a plain IndexFlat's vectors into a CdxFlatIP (after reading a file).
CdxFlatIP *adopt_flat(faiss::Index *plain)
{
    auto *f = dynamic_cast<faiss::IndexFlat *>(plain);
    FAISS_THROW_IF_NOT_MSG(f && f->metric_type == faiss::METRIC_INNER_PRODUCT, "expected an inner-product flat index");
    auto *c = new CdxFlatIP(f->d);
    c->codes.swap(f->codes);
    c->ntotal = f->ntotal;
    delete f;
    return c;
}

struct CallbackWriter : faiss::IOWriter {
    cdx_write_fn fn;
    void *ctx;
    CallbackWriter(cdx_write_fn f, void *c) : fn(f), ctx(c) {}
    size_t operator()(const void *ptr, size_t size, size_t nitems) override
    {
        size_t bytes = size * nitems;
        if (bytes == 0)
            return nitems;
        FAISS_THROW_IF_NOT_MSG(fn(ctx, ptr, bytes) == bytes, "write failed");
        return nitems;
    }
};

struct CallbackReader : faiss::IOReader {
    cdx_read_fn fn;
    void *ctx;
    CallbackReader(cdx_read_fn f, void *c) : fn(f), ctx(c) {}
    size_t operator()(void *ptr, size_t size, size_t nitems) override
    {
        if (size == 0 || nitems == 0)
            return 0;
        // FAISS sizes its vectors from the file; refuse absurd sizes before
        // they become allocations (the file's sha256 was checked, but a read
        // from an unverified stream must not take the process down).
        size_t bytes = size * nitems;
        size_t got = fn(ctx, ptr, bytes);
        return got / size;
    }
};

size_t fd_write(void *ctx, const void *p, size_t n)
{
    int fd = *static_cast<int *>(ctx);
    return cdx_io_write_all(fd, p, n) == 0 ? n : 0;
}

} // namespace

struct cdx_faiss {
    cdx_index_spec spec;
    int32_t dim = 0;
    std::unique_ptr<faiss::Index> index;
    // HNSW and SQ8 address vectors by position; we map positions to ids and
    // mark removed positions dead. IVF kinds keep ids themselves.
    bool own_ids = false;
    std::vector<int64_t> id_of;
    std::unordered_map<int64_t, int64_t> pos_of;
    std::vector<uint8_t> alive; // bitmap over positions
    int64_t dead = 0;
};

#define CDX_FAISS_TRY try {
#define CDX_FAISS_CATCH(eb, op)                                                                                     \
    }                                                                                                                  \
    catch (const std::bad_alloc &)                                                                                     \
    {                                                                                                                  \
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", op);                                          \
    }                                                                                                                  \
    catch (const faiss::FaissException &e)                                                                             \
    {                                                                                                                  \
        return cdx_errbuf_set(eb, CDX_ERR_INDEX, "%s: %s", op, e.msg.c_str());                                      \
    }                                                                                                                  \
    catch (const std::exception &e)                                                                                    \
    {                                                                                                                  \
        return cdx_errbuf_set(eb, CDX_ERR_INDEX, "%s: %s", op, e.what());                                           \
    }                                                                                                                  \
    catch (...)                                                                                                        \
    {                                                                                                                  \
        return cdx_errbuf_set(eb, CDX_ERR_INDEX, "%s: unknown exception", op);                                      \
    }

#define HNSW_EF_CAP 32768

static void use_threads(int32_t threads)
{
    if (threads > 0)
        omp_set_num_threads(threads);
}

static faiss::Index *make_index(const cdx_index_spec &s, int d)
{
    switch (s.kind) {
    case CDX_INDEX_HNSW: {
        auto *h = new faiss::IndexHNSWFlat(d, s.m, faiss::METRIC_INNER_PRODUCT);
        delete h->storage;
        h->storage = new CdxFlatIP(d);
        h->hnsw.efConstruction = s.efc;
        // FAISS 1.7.3 caps a per-call efSearch at the index's own (measured:
        // recall stops rising there), so the index's is set high and every
        // search passes its effort explicitly.
        h->hnsw.efSearch = HNSW_EF_CAP;
        return h;
    }
    case CDX_INDEX_IVF: {
        auto *ivf = new faiss::IndexIVFFlat(new CdxFlatIP(d), d, (size_t)s.nlist, faiss::METRIC_INNER_PRODUCT);
        ivf->own_fields = true;
        ivf->nprobe = (size_t)s.nprobe;
        return ivf;
    }
    case CDX_INDEX_IVFPQ: {
        auto *ivf = new faiss::IndexIVFPQ(new CdxFlatIP(d), d, (size_t)s.nlist, (size_t)s.pq_m, (size_t)s.pq_nbits,
                                          faiss::METRIC_INNER_PRODUCT);
        ivf->own_fields = true;
        // FAISS makes inner-product IVF centroids unit vectors (spherical
        // k-means). IVF-PQ encodes x - centroid, and a unit centroid is far
        // from the vectors of its list (their mean has norm < 1: ~0.2 on
        // random 512-d data), so the residuals were longer than the vectors
        // and the codes lost the neighbours (measured: recall@10 0.83 with
        // all lists probed and 1000 candidates re-scored, 100k x 512). With
        // the lists' means the residuals are the vectors' spread around them.
        ivf->cp.spherical = false;
        ivf->nprobe = (size_t)s.nprobe;
        return ivf;
    }
    case CDX_INDEX_SQ8:
        return new faiss::IndexScalarQuantizer(d, faiss::ScalarQuantizer::QT_8bit, faiss::METRIC_INNER_PRODUCT);
    case CDX_INDEX_FAISS_FLAT: // Debian's build: SSE kernels, BLAS for batches of 20 or more
        return new faiss::IndexFlatIP(d);
    default:
        return nullptr;
    }
}

extern "C" int cdx_faiss_create(const cdx_index_spec *spec, int32_t dim, cdx_faiss **out, cdx_errbuf *eb)
{
    *out = nullptr;
    if (spec->kind == CDX_INDEX_FLAT || spec->kind == CDX_INDEX_AUTO)
        return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "faiss shim: %s is not a FAISS kind",
                              cdx_index_kind_name(spec->kind));
    if ((spec->kind == CDX_INDEX_IVF || spec->kind == CDX_INDEX_IVFPQ) && spec->nlist <= 0)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "faiss shim: nlist must be resolved before create");
    if (spec->kind == CDX_INDEX_IVFPQ && (spec->pq_m <= 0 || dim % spec->pq_m != 0))
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "index spec: ivfpq m=%d must divide the dimension %d", spec->pq_m,
                              dim);
    CDX_FAISS_TRY
    auto f = std::make_unique<cdx_faiss>();
    f->spec = *spec;
    f->dim = dim;
    f->index.reset(make_index(*spec, dim));
    f->own_ids = spec->kind == CDX_INDEX_HNSW || spec->kind == CDX_INDEX_SQ8 || spec->kind == CDX_INDEX_FAISS_FLAT;
    *out = f.release();
    return CDX_OK;
    CDX_FAISS_CATCH(eb, "create index")
}

extern "C" void cdx_faiss_free(cdx_faiss *f) { delete f; }

extern "C" int cdx_faiss_is_trained(const cdx_faiss *f) { return f->index->is_trained; }

extern "C" int cdx_faiss_train(cdx_faiss *f, int64_t n, const float *x, int32_t threads, cdx_errbuf *eb)
{
    CDX_FAISS_TRY
    use_threads(threads);
    if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(f->index.get()))
        ivf->cp.verbose = false;
    f->index->train(n, x);
    return CDX_OK;
    CDX_FAISS_CATCH(eb, "train index")
}

extern "C" int cdx_faiss_add(cdx_faiss *f, int64_t n, const float *x, const int64_t *ids, int32_t threads,
                             cdx_errbuf *eb)
{
    if (!f->index->is_trained)
        return cdx_errbuf_set(eb, CDX_ERR_INDEX, "add to index: %s index is not trained",
                              cdx_index_kind_name(f->spec.kind));
    CDX_FAISS_TRY
    use_threads(threads);
    if (!f->own_ids) {
        f->index->add_with_ids(n, x, ids);
        return CDX_OK;
    }
    for (int64_t i = 0; i < n; i++)
        if (f->pos_of.count(ids[i]))
            return cdx_errbuf_set(eb, CDX_ERR_INDEX, "add to index: id %lld is already present", (long long)ids[i]);
    int64_t base = f->index->ntotal;
    f->index->add(n, x);
    f->id_of.resize((size_t)(base + n));
    f->alive.resize((size_t)((base + n + 7) / 8), 0);
    for (int64_t i = 0; i < n; i++) {
        f->id_of[(size_t)(base + i)] = ids[i];
        f->pos_of[ids[i]] = base + i;
        f->alive[(size_t)((base + i) >> 3)] |= (uint8_t)(1u << ((base + i) & 7));
    }
    return CDX_OK;
    CDX_FAISS_CATCH(eb, "add to index")
}

extern "C" int cdx_faiss_remove(cdx_faiss *f, int64_t n, const int64_t *ids, int64_t *removed, cdx_errbuf *eb)
{
    CDX_FAISS_TRY
    int64_t r = 0;
    if (!f->own_ids) {
        faiss::IDSelectorBatch sel((size_t)n, ids);
        r = (int64_t)f->index->remove_ids(sel);
    } else {
        for (int64_t i = 0; i < n; i++) {
            auto it = f->pos_of.find(ids[i]);
            if (it == f->pos_of.end())
                continue;
            int64_t p = it->second;
            f->alive[(size_t)(p >> 3)] &= (uint8_t) ~(1u << (p & 7));
            f->id_of[(size_t)p] = -1;
            f->pos_of.erase(it);
            f->dead++;
            r++;
        }
    }
    if (removed)
        *removed = r;
    return CDX_OK;
    CDX_FAISS_CATCH(eb, "remove from index")
}

extern "C" int cdx_faiss_search(const cdx_faiss *f, int64_t nq, const float *q, int32_t k, int32_t effort,
                                int32_t threads, int64_t *ids, float *scores, cdx_errbuf *eb)
{
    CDX_FAISS_TRY
    use_threads(threads);
    std::unique_ptr<faiss::IDSelectorBitmap> sel;
    if (f->own_ids && f->dead > 0)
        sel = std::make_unique<faiss::IDSelectorBitmap>(f->alive.size() * 8, f->alive.data());
    faiss::SearchParametersHNSW hp;
    faiss::SearchParametersIVF ip;
    faiss::SearchParameters plain;
    const faiss::SearchParameters *params = nullptr;
    if (f->spec.kind == CDX_INDEX_HNSW) {
        hp.efSearch = effort > 0 ? effort : f->spec.efs;
        hp.efSearch = std::max(hp.efSearch, k);
        hp.sel = sel.get();
        params = &hp;
    } else if (f->spec.kind == CDX_INDEX_IVF || f->spec.kind == CDX_INDEX_IVFPQ) {
        ip.nprobe = (size_t)(effort > 0 ? effort : f->spec.nprobe);
        params = &ip;
    } else if (sel) {
        plain.sel = sel.get();
        params = &plain;
    }
    f->index->search(nq, q, k, scores, ids, params);
    if (f->own_ids)
        for (int64_t i = 0; i < nq * k; i++)
            ids[i] = ids[i] >= 0 ? f->id_of[(size_t)ids[i]] : -1;
    for (int64_t i = 0; i < nq * k; i++)
        if (ids[i] < 0)
            scores[i] = -INFINITY;
    return CDX_OK;
    CDX_FAISS_CATCH(eb, "search index")
}

extern "C" int64_t cdx_faiss_count(const cdx_faiss *f)
{
    return f->own_ids ? (int64_t)f->pos_of.size() : (int64_t)f->index->ntotal;
}

extern "C" int64_t cdx_faiss_dead(const cdx_faiss *f) { return f->dead; }

extern "C" const cdx_index_spec *cdx_faiss_spec(const cdx_faiss *f) { return &f->spec; }

extern "C" uint64_t cdx_faiss_memory(const cdx_faiss *f)
{
    const faiss::Index *ix = f->index.get();
    uint64_t n = (uint64_t)ix->ntotal, d = (uint64_t)f->dim, bytes = 0;
    if (auto *h = dynamic_cast<const faiss::IndexHNSW *>(ix)) {
        bytes = n * d * 4 + h->hnsw.neighbors.size() * 4 + h->hnsw.offsets.size() * 8 + h->hnsw.levels.size() * 4;
    } else if (auto *ivf = dynamic_cast<const faiss::IndexIVF *>(ix)) {
        bytes = n * (ivf->code_size + 8) + (uint64_t)ivf->nlist * d * 4;
        if (auto *pq = dynamic_cast<const faiss::IndexIVFPQ *>(ix))
            bytes += pq->pq.centroids.size() * 4;
    } else if (auto *sq = dynamic_cast<const faiss::IndexScalarQuantizer *>(ix)) {
        bytes = n * sq->code_size + sq->sq.trained.size() * 4;
    } else if (auto *fl = dynamic_cast<const faiss::IndexFlatCodes *>(ix)) {
        bytes = n * fl->code_size;
    }
    if (f->own_ids) /* position -> id, id -> position (hash node ~ 32 bytes), bitmap */
        bytes += f->id_of.size() * 8 + f->pos_of.size() * 40 + f->alive.size();
    return bytes;
}

extern "C" int cdx_faiss_ids(const cdx_faiss *f, int64_t *out, cdx_errbuf *eb)
{
    CDX_FAISS_TRY
    size_t j = 0;
    if (f->own_ids) {
        for (int64_t id : f->id_of)
            if (id >= 0)
                out[j++] = id;
        return CDX_OK;
    }
    auto *ivf = dynamic_cast<const faiss::IndexIVF *>(f->index.get());
    FAISS_THROW_IF_NOT(ivf);
    for (size_t l = 0; l < ivf->nlist; l++) {
        size_t ls = ivf->invlists->list_size(l);
        faiss::InvertedLists::ScopedIds lid(ivf->invlists, l);
        for (size_t i = 0; i < ls; i++)
            out[j++] = lid[i];
    }
    return CDX_OK;
    CDX_FAISS_CATCH(eb, "list index ids")
}

static const char ID_MAGIC[8] = {'C', 'D', 'X', 'I', 'D', 'S', '0', '1'};

extern "C" int cdx_faiss_write(const cdx_faiss *f, cdx_write_fn w, void *ctx, cdx_errbuf *eb)
{
    CDX_FAISS_TRY
    CallbackWriter cw(w, ctx);
    faiss::write_index(f->index.get(), &cw);
    if (f->own_ids) {
        int64_t n = (int64_t)f->id_of.size();
        FAISS_THROW_IF_NOT_MSG(w(ctx, ID_MAGIC, 8) == 8 && w(ctx, &n, 8) == 8, "write failed");
        size_t bytes = f->id_of.size() * 8;
        FAISS_THROW_IF_NOT_MSG(bytes == 0 || w(ctx, f->id_of.data(), bytes) == bytes, "write failed");
    }
    return CDX_OK;
    CDX_FAISS_CATCH(eb, "write index")
}

// Checks that what FAISS read is the kind the sidecar promised, and puts our
// kernels back in.
static void adopt(cdx_faiss *f)
{
    faiss::Index *ix = f->index.get();
    FAISS_THROW_IF_NOT_MSG(ix->d == f->dim, "dimension differs from the catalog's");
    FAISS_THROW_IF_NOT_MSG(ix->metric_type == faiss::METRIC_INNER_PRODUCT, "not an inner-product index");
    switch (f->spec.kind) {
    case CDX_INDEX_HNSW: {
        auto *h = dynamic_cast<faiss::IndexHNSWFlat *>(ix);
        FAISS_THROW_IF_NOT_MSG(h, "not an HNSW index");
        h->storage = adopt_flat(h->storage);
        h->hnsw.efSearch = HNSW_EF_CAP;
        break;
    }
    case CDX_INDEX_IVF:
    case CDX_INDEX_IVFPQ: {
        auto *ivf = dynamic_cast<faiss::IndexIVF *>(ix);
        bool pq = dynamic_cast<faiss::IndexIVFPQ *>(ix) != nullptr;
        FAISS_THROW_IF_NOT_MSG(ivf && pq == (f->spec.kind == CDX_INDEX_IVFPQ) &&
                                   (pq || dynamic_cast<faiss::IndexIVFFlat *>(ix)),
                               "not the IVF kind the spec names");
        ivf->quantizer = adopt_flat(ivf->quantizer);
        ivf->own_fields = true;
        ivf->nprobe = (size_t)f->spec.nprobe;
        break;
    }
    case CDX_INDEX_SQ8:
        FAISS_THROW_IF_NOT_MSG(dynamic_cast<faiss::IndexScalarQuantizer *>(ix), "not an SQ8 index");
        break;
    case CDX_INDEX_FAISS_FLAT:
        FAISS_THROW_IF_NOT_MSG(dynamic_cast<faiss::IndexFlatIP *>(ix), "not a flat index");
        break;
    default:
        FAISS_THROW_MSG("not a FAISS kind");
    }
}

extern "C" int cdx_faiss_read(cdx_read_fn r, void *ctx, const cdx_index_spec *spec, int32_t dim, cdx_faiss **out,
                              cdx_errbuf *eb)
{
    *out = nullptr;
    CDX_FAISS_TRY
    auto f = std::make_unique<cdx_faiss>();
    f->spec = *spec;
    f->dim = dim;
    f->own_ids = spec->kind == CDX_INDEX_HNSW || spec->kind == CDX_INDEX_SQ8 || spec->kind == CDX_INDEX_FAISS_FLAT;
    CallbackReader cr(r, ctx);
    f->index.reset(faiss::read_index(&cr));
    adopt(f.get());
    if (f->own_ids) {
        char magic[8];
        int64_t n = -1;
        FAISS_THROW_IF_NOT_MSG(r(ctx, magic, 8) == 8 && memcmp(magic, ID_MAGIC, 8) == 0 && r(ctx, &n, 8) == 8 &&
                                   n == f->index->ntotal,
                               "id map missing or does not match the index");
        f->id_of.resize((size_t)n);
        size_t bytes = (size_t)n * 8;
        FAISS_THROW_IF_NOT_MSG(bytes == 0 || r(ctx, f->id_of.data(), bytes) == bytes, "id map truncated");
        f->alive.assign((size_t)((n + 7) / 8), 0);
        for (int64_t p = 0; p < n; p++) {
            int64_t id = f->id_of[(size_t)p];
            if (id < 0) {
                f->dead++;
                continue;
            }
            FAISS_THROW_IF_NOT_MSG(f->pos_of.emplace(id, p).second, "id map holds an id twice");
            f->alive[(size_t)(p >> 3)] |= (uint8_t)(1u << (p & 7));
        }
    }
    *out = f.release();
    return CDX_OK;
    CDX_FAISS_CATCH(eb, "read index")
}

extern "C" int cdx_faiss_write_fd(const cdx_faiss *f, int fd, cdx_errbuf *eb)
{
    return cdx_faiss_write(f, fd_write, &fd, eb);
}

extern "C" int cdx_faiss_read_fd(int fd, const cdx_index_spec *spec, int32_t dim, cdx_faiss **out, cdx_errbuf *eb)
{
    cdx_io_reader rd;
    if (cdx_io_reader_init(&rd, fd) != 0)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "read index: out of memory");
    int rc = cdx_faiss_read(cdx_io_reader_get, &rd, spec, dim, out, eb);
    cdx_io_reader_free(&rd);
    return rc;
}

extern "C" void cdx_faiss_set_threads(int32_t omp_threads, int32_t blas_threads)
{
    if (omp_threads > 0)
        omp_set_num_threads(omp_threads);
    if (blas_threads > 0 && openblas_set_num_threads)
        openblas_set_num_threads(blas_threads);
}
