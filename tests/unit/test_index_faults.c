/* Index files under faults and damage.
 *
 * ENOSPC and EIO injected at each write, fsync and rename of a checkpoint
 * (index/iofile.h's hook): the error is reported with its cause, the previous
 * index file stays valid (its sha256 still matches and it is used on reopen),
 * and nothing acknowledged is lost. A checkpoint that fails inside put_batch
 * does not un-acknowledge the batch.
 *
 * Truncated, bit-flipped or foreign index files and damaged sidecars: the
 * store rebuilds from the catalog, never parses them (a flipped size field
 * would make FAISS allocate or read wildly; ASan would catch it), never
 * crashes, and says why. */
#include "testutil.h"

#include "store_fixture.h"

#include "index/iofile.h"
#include "index/sidecar.h"
#include "index/store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIM 32

typedef struct fx {
    char *dir;
    cdx_contract *c;
    float *x;
    int32_t n;
} fx;

static cdx_store *open_spec(fx *f, const char *spec, int read_only)
{
    cdx_store_params p = cdx_store_default_params();
    p.index_spec = spec;
    p.threads = 1;
    p.read_only = read_only;
    p.checkpoint_rows = 1 << 30; /* checkpoints only when the test says */
    p.checkpoint_seconds = 1e9;
    cdx_store *s = NULL;
    cdx_errbuf eb = {0};
    if (cdx_store_open(f->dir, f->c, &p, &s, &eb) != CDX_OK)
        fail_msg("open: %s", eb.msg);
    return s;
}

static void put_range(cdx_store *s, fx *f, int32_t from, int32_t count)
{
    cdx_item items[64];
    char uris[64 * 32];
    cdx_errbuf eb = {0};
    for (int32_t b = from; b < from + count; b += 64) {
        int32_t m = CDX_MIN(64, from + count - b);
        cdx_test_items(items, uris, m, b);
        if (cdx_store_put_batch(s, items, f->x + (size_t)b * DIM, NULL, m, &eb) != CDX_OK)
            fail_msg("put: %s", eb.msg);
    }
}

/* Every one of items [0, n) is found by its own vector, once. */
static void expect_all(cdx_store *s, fx *f, int32_t n, int exact)
{
    cdx_verify_report r;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_store_verify(s, &r, &eb), CDX_OK);
    assert_true(r.integrity_ok);
    assert_int_equal(r.space[0].catalog_rows, n);
    assert_int_equal(r.space[0].indexed, n);
    assert_int_equal(r.space[0].missing + r.space[0].extra + r.space[0].duplicates, 0);
    for (int32_t i = 0; exact && i < n; i += 7) {
        int64_t id;
        float sc;
        char uri[32];
        snprintf(uri, sizeof uri, "img/%d.jpg", i);
        cdx_item_state st;
        assert_int_equal(cdx_store_lookup_uri(s, uri, &st, &eb), CDX_OK);
        assert_true(st.found);
        assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, f->x + (size_t)i * DIM, 1, 1, 0, &id, &sc, &eb), CDX_OK);
        assert_int_equal(id, st.id);
    }
}

static void fx_setup(fx *f, int32_t n)
{
    f->dir = cdx_test_mkdtemp("faults");
    f->c = cdx_test_store_contract("fixture-clip", DIM);
    f->x = cdx_test_unit_vectors(n, DIM, 31);
    f->n = n;
}

static void fx_teardown(fx *f)
{
    cdx_io_fault_clear();
    cdx_contract_close(f->c);
    free(f->x);
    cdx_test_rmtree(f->dir);
    free(f->dir);
}

static char *read_text_file(const char *path)
{
    size_t len;
    unsigned char *b = cdx_test_read_file(path, &len);
    if (!b)
        return NULL;
    char *t = realloc(b, len + 1);
    t[len] = '\0';
    return t;
}

static void read_sidecar(fx *f, cdx_sidecar *sc)
{
    char *path = cdx_test_fmt("%s/index-image.json", f->dir);
    char *text = read_text_file(path);
    assert_non_null(text);
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_sidecar_parse(text, strlen(text), sc, &eb), CDX_OK);
    free(text);
    free(path);
}

static void checkpoint_faults(void **state)
{
    (void)state;
    static const struct {
        enum cdx_io_op op;
        const char *name;
    } ops[] = {{CDX_IO_OP_WRITE, "write"}, {CDX_IO_OP_FSYNC, "fsync"}, {CDX_IO_OP_RENAME, "rename"}};
    static const int errs[] = {ENOSPC, EIO};
    const char *specs[] = {"flat", "hnsw:m=8,efc=32,efs=64"};
    for (size_t si = 0; si < 2; si++) {
        for (size_t oi = 0; oi < CDX_ARRAY_LEN(ops); oi++) {
            for (size_t ei = 0; ei < 2; ei++) {
                /* skip 0: the data file's first call fails; a later skip reaches the sidecar's */
                for (int64_t skip = 0; skip < 3; skip++) {
                    fx f;
                    fx_setup(&f, 600);
                    cdx_store *s = open_spec(&f, specs[si], 0);
                    put_range(s, &f, 0, 300);
                    cdx_errbuf eb = {0};
                    assert_int_equal(cdx_store_checkpoint(s, &eb), CDX_OK);
                    cdx_sidecar before;
                    read_sidecar(&f, &before);

                    put_range(s, &f, 300, 300); /* acknowledged, not yet checkpointed */
                    cdx_io_fault_set(ops[oi].op, skip, errs[ei]);
                    int rc = cdx_store_checkpoint(s, &eb);
                    cdx_io_fault_clear();
                    if (rc == CDX_OK) {
                        /* the fault was armed past the last call of its kind: nothing failed */
                        assert_true(skip > 0);
                    } else {
                        assert_int_equal(rc, CDX_ERR_IO);
                        if (!strstr(eb.msg, strerror(errs[ei])) || !strstr(eb.msg, ops[oi].name))
                            fail_msg("%s %s skip %lld: message '%s' lacks the step or the cause", ops[oi].name,
                                     strerror(errs[ei]), (long long)skip, eb.msg);
                        /* the previous checkpoint is still the published one, and intact */
                        cdx_sidecar now;
                        read_sidecar(&f, &now);
                        if (now.generation == before.generation) {
                            char *data = cdx_test_fmt("%s/%s", f.dir, now.file);
                            char hex[65];
                            assert_int_equal(cdx_sha256_file_hex(data, hex, &eb), CDX_OK);
                            assert_string_equal(hex, now.sha256);
                            free(data);
                        }
                        /* no temp file is left behind */
                        char *tmp = cdx_test_fmt("%s/index-image.%lld.faiss.tmp", f.dir,
                                                 (long long)before.generation + 1);
                        assert_int_not_equal(access(tmp, F_OK), 0);
                        free(tmp);
                    }
                    /* A reader opening now uses a valid file and replays the rest. */
                    cdx_store *r = open_spec(&f, "auto", 1);
                    cdx_space_load ld;
                    cdx_store_load_status(r, CDX_SPACE_IMAGE, &ld);
                    if (ld.status != CDX_OK)
                        fail_msg("%s %s skip %lld: the index file was not usable: %s", ops[oi].name,
                                 strerror(errs[ei]), (long long)skip, ld.note);
                    expect_all(r, &f, 600, si == 0);
                    cdx_store_close(r);
                    cdx_store_close(s); /* checkpoints again, now without faults */
                    s = open_spec(&f, specs[si], 0);
                    cdx_store_load_status(s, CDX_SPACE_IMAGE, &ld);
                    assert_int_equal(ld.status, CDX_OK);
                    assert_int_equal(ld.replayed, 0);
                    expect_all(s, &f, 600, si == 0);
                    cdx_store_close(s);
                    fx_teardown(&f);
                }
            }
        }
    }
}

static void failed_auto_checkpoint_keeps_the_ack(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 200);
    cdx_store_params p = cdx_store_default_params();
    p.index_spec = "flat";
    p.checkpoint_rows = 50; /* every put below triggers a checkpoint */
    cdx_store *s;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_store_open(f.dir, f.c, &p, &s, &eb), CDX_OK);
    cdx_io_fault_set(CDX_IO_OP_FSYNC, 0, EIO);
    put_range(s, &f, 0, 200); /* returns CDX_OK although every checkpoint fails */
    cdx_io_fault_clear();
    cdx_store *r = open_spec(&f, "auto", 1);
    expect_all(r, &f, 200, 1);
    cdx_store_close(r);
    cdx_store_close(s);
    fx_teardown(&f);
}

/* Damage to the checkpoint, applied after a clean close. */
typedef void (*damage_fn)(fx *f, const cdx_sidecar *sc);

static char *data_path(fx *f, const cdx_sidecar *sc) { return cdx_test_fmt("%s/%s", f->dir, sc->file); }

static void truncate_half(fx *f, const cdx_sidecar *sc)
{
    char *p = data_path(f, sc);
    assert_int_equal(truncate(p, sc->bytes / 2), 0);
    free(p);
}

static void flip_at(fx *f, const cdx_sidecar *sc, int64_t off)
{
    char *p = data_path(f, sc);
    size_t len;
    unsigned char *b = cdx_test_read_file(p, &len);
    assert_non_null(b);
    b[off % (int64_t)len] ^= 0x40;
    assert_int_equal(cdx_test_write_file(p, b, len), 0);
    free(b);
    free(p);
}

static void flip_middle(fx *f, const cdx_sidecar *sc) { flip_at(f, sc, sc->bytes / 2); }
/* Past our 144-byte header: FAISS's own header (its ntotal and sizes). */
static void flip_faiss_header(fx *f, const cdx_sidecar *sc) { flip_at(f, sc, 160); }

static void huge_count(fx *f, const cdx_sidecar *sc)
{
    char *p = data_path(f, sc);
    size_t len;
    unsigned char *b = cdx_test_read_file(p, &len);
    memset(b + 150, 0x7f, 24); /* sizes FAISS would trust if it ever read them */
    assert_int_equal(cdx_test_write_file(p, b, len), 0);
    free(b);
    free(p);
}

static void delete_data(fx *f, const cdx_sidecar *sc)
{
    char *p = data_path(f, sc);
    assert_int_equal(unlink(p), 0);
    free(p);
}

static void rewrite_sidecar(fx *f, const char *text)
{
    char *path = cdx_test_fmt("%s/index-image.json", f->dir);
    assert_int_equal(cdx_test_write_file(path, text, strlen(text)), 0);
    free(path);
}

static void garbage_sidecar(fx *f, const cdx_sidecar *sc)
{
    (void)sc;
    rewrite_sidecar(f, "{\"format\": 1, \"space\": ");
}

static void foreign_sidecar(fx *f, const cdx_sidecar *sc)
{
    cdx_sidecar o = *sc;
    memset(o.space_hash, 'b', 64); /* an index built for another vector space */
    char *t = cdx_sidecar_format(&o);
    rewrite_sidecar(f, t);
    free(t);
}

static void stale_watermark(fx *f, const cdx_sidecar *sc)
{
    cdx_sidecar o = *sc;
    o.watermark += 1000000; /* claims rows the catalog never had */
    char *t = cdx_sidecar_format(&o);
    rewrite_sidecar(f, t);
    free(t);
}

static void damaged_files_are_rebuilt(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        damage_fn fn;
        const char *says;
    } damages[] = {
        {"truncated", truncate_half, "sha256"},
        {"bit flip", flip_middle, "sha256"},
        {"FAISS header flip", flip_faiss_header, "sha256"},
        {"huge sizes", huge_count, "sha256"},
        {"data file deleted", delete_data, "No such file"},
        {"sidecar not JSON", garbage_sidecar, "sidecar"},
        {"foreign contract", foreign_sidecar, "contract"},
        {"watermark ahead", stale_watermark, "ahead"},
    };
    const char *specs[] = {"flat", "hnsw:m=8,efc=32,efs=64", "ivf:nlist=8,nprobe=8", "sq8"};
    for (size_t si = 0; si < CDX_ARRAY_LEN(specs); si++) {
        for (size_t d = 0; d < CDX_ARRAY_LEN(damages); d++) {
            fx f;
            fx_setup(&f, 1200);
            cdx_store *s = open_spec(&f, specs[si], 0);
            put_range(s, &f, 0, 1200);
            cdx_store_close(s);
            cdx_sidecar sc;
            read_sidecar(&f, &sc);
            damages[d].fn(&f, &sc);

            s = open_spec(&f, specs[si], 0);
            cdx_space_load ld;
            cdx_store_load_status(s, CDX_SPACE_IMAGE, &ld);
            if (ld.status == CDX_OK || !strstr(ld.note, damages[d].says))
                fail_msg("%s / %s: status %s, note '%s' (expected it to mention '%s')", specs[si], damages[d].name,
                         cdx_errname(ld.status), ld.note, damages[d].says);
            expect_all(s, &f, 1200, si == 0);
            cdx_store_close(s); /* writes a fresh checkpoint */
            s = open_spec(&f, specs[si], 0);
            cdx_store_load_status(s, CDX_SPACE_IMAGE, &ld);
            assert_int_equal(ld.status, CDX_OK);
            expect_all(s, &f, 1200, si == 0);
            cdx_store_close(s);
            fx_teardown(&f);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checkpoint_faults),
        cmocka_unit_test(failed_auto_checkpoint_keeps_the_ack),
        cmocka_unit_test(damaged_files_are_rebuilt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
