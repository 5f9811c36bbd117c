/* Ingest sources: brace expansion, path normalization, the manifest formats
 * (including bad rows and hostile bytes), directory walks with symlinks in,
 * out and in loops, webdataset tar shards, and the pre-scan count. */
#include "testutil.h"

#include "ingest/manifest.h"
#include "ingest/source.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void expect_expansion(const char *pattern, const char *const *want, size_t n_want)
{
    char **list = NULL;
    size_t n = 0;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_brace_expand(pattern, 1000, &list, &n, &eb), CDX_OK);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(list[i], want[i]);
    assert_null(list[n]);
    cdx_brace_free(list);
}

static void brace(void **state)
{
    (void)state;
    expect_expansion("s/{00000..00003}.tar", (const char *[]){"s/00000.tar", "s/00001.tar", "s/00002.tar", "s/00003.tar"}, 4);
    expect_expansion("{a,b}{1..2}", (const char *[]){"a1", "a2", "b1", "b2"}, 4);
    expect_expansion("{3..1}", (const char *[]){"3", "2", "1"}, 3);
    expect_expansion("{8..11}", (const char *[]){"8", "9", "10", "11"}, 4);
    expect_expansion("{-1..1}", (const char *[]){"-1", "0", "1"}, 3);
    expect_expansion("{07..9}", (const char *[]){"07", "08", "09"}, 3);
    expect_expansion("x{,y}", (const char *[]){"x", "xy"}, 2);
    /* Not groups: stay literal. */
    expect_expansion("a{}b", (const char *[]){"a{}b"}, 1);
    expect_expansion("a{b}c", (const char *[]){"a{b}c"}, 1);
    expect_expansion("a{b,c", (const char *[]){"a{b,c"}, 1);
    expect_expansion("{a..b}", (const char *[]){"{a..b}"}, 1);
    expect_expansion("plain/path.tar", (const char *[]){"plain/path.tar"}, 1);
    expect_expansion("{x{a,b}", (const char *[]){"{xa", "{xb"}, 2);

    char **list = NULL;
    size_t n = 0;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_brace_expand("{1..1000}{1..1000}", 100000, &list, &n, &eb), CDX_ERR_TOOBIG);
    assert_null(list);
    assert_non_null(strstr(eb.msg, "more than 100000"));
    assert_int_equal(cdx_brace_expand("{0..99999999999999}", 100000, &list, &n, &eb), CDX_ERR_TOOBIG);
}

static void paths(void **state)
{
    (void)state;
    static const struct {
        const char *path, *base, *want;
    } cases[] = {
        {"a/./b/../c", "/x", "/x/a/c"}, {"/../..", NULL, "/"},    {"//a//b/", NULL, "/a/b"},
        {"../../../y", "/x/z", "/y"},   {"a\nb", "/x", "/x/a\nb"}, {".", "/x/y", "/x/y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = cdx_path_absolute(cases[i].path, cases[i].base);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
    assert_true(cdx_source_ext_match("a/b.JPG", NULL));
    assert_true(cdx_source_ext_match("x.webp", "png, webp"));
    assert_false(cdx_source_ext_match("x.webp", "png,jpg"));
    assert_false(cdx_source_ext_match("jpg", NULL));
    assert_false(cdx_source_ext_match("a.jpg/b", NULL));
    assert_false(cdx_source_ext_match("x.", NULL));
}

/* Parses text as a manifest named name; returns rows as "uri|caption|meta" or "ERR:<code>@line". */
static char *parse_all(const char *name, const char *text, size_t len)
{
    FILE *f = fmemopen((void *)text, len, "rb");
    assert_non_null(f);
    cdx_manifest *m = NULL;
    cdx_errbuf eb = {0};
    char *out = NULL;
    size_t out_len = 0;
    FILE *o = open_memstream(&out, &out_len);
    if (cdx_manifest_open(f, name, CDX_MANIFEST_FORMAT_AUTO, &m, &eb) != CDX_OK) {
        fprintf(o, "OPEN:%s", eb.msg);
    } else {
        fprintf(o, "[%s]", cdx_manifest_format_name(cdx_manifest_get_format(m)));
        cdx_manifest_row row;
        int r;
        while ((r = cdx_manifest_next(m, &row, &eb)) != 0) {
            if (r == 1)
                fprintf(o, "%s|%s|%s@%lld;", row.uri, row.caption ? row.caption : "-",
                        row.meta_json ? row.meta_json : "-", (long long)row.line);
            else
                fprintf(o, "ERR:%s@%lld;", cdx_errname(r), (long long)cdx_manifest_row_line(m));
            if (r < 0 && r != CDX_ERR_PARSE && r != CDX_ERR_TOOBIG)
                break;
        }
    }
    cdx_manifest_close(m);
    fclose(f);
    fclose(o);
    return out;
}

static void expect_manifest(const char *name, const char *text, const char *want)
{
    char *got = parse_all(name, text, strlen(text));
    if (strcmp(got, want) != 0)
        fail_msg("manifest %s:\n got  %s\n want %s", name, got, want);
    free(got);
}

static void manifests(void **state)
{
    (void)state;
    expect_manifest("list.txt", "a.jpg\n\n  \nb c.png\r\n", "[lines]a.jpg|-|-@1;b c.png|-|-@4;");
    expect_manifest("m.csv",
                    "\xef\xbb\xbfid,uri,caption,tag\r\n"
                    "1,a.jpg,\"a red, round \"\"thing\"\"\",x\r\n"
                    "2,\"multi\nline.jpg\",,y\n"
                    "\n"
                    "3,c.jpg,cap,z,extra\n"
                    "4,,nouri,w\n"
                    "5,d.jpg\n",
                    "[csv]a.jpg|a red, round \"thing\"|{\"id\":\"1\",\"tag\":\"x\"}@2;"
                    "multi\nline.jpg|-|{\"id\":\"2\",\"tag\":\"y\"}@3;"
                    "ERR:PARSE@6;ERR:PARSE@7;"
                    "d.jpg|-|{\"id\":\"5\"}@8;");
    /* Sniffed from the header, without a telling extension. */
    expect_manifest("stdin", "path,text\nq.jpg,hello\n", "[csv]q.jpg|hello|-@2;");
    expect_manifest("m.tsv", "uri\tcaption\na,b.jpg\t\"quoted\"\n", "[tsv]a,b.jpg|\"quoted\"|-@2;");
    expect_manifest("m.jsonl",
                    "{\"uri\":\"a.jpg\",\"caption\":\"cap\",\"id\":7,\"meta\":{\"k\":[1,2]}}\n"
                    "not json\n"
                    "[1,2]\n"
                    "{\"caption\":\"no uri\"}\n"
                    "{\"path\":\"b.jpg\",\"caption\":null}\n"
                    "{\"uri\":\"c.jpg\",\"caption\":5}\n"
                    "{\"uri\":\"a\\u0000b\"}\n",
                    "[jsonl]a.jpg|cap|{\"id\":7,\"meta\":{\"k\":[1,2]}}@1;ERR:PARSE@2;ERR:PARSE@3;ERR:PARSE@4;"
                    "b.jpg|-|-@5;ERR:PARSE@6;ERR:PARSE@7;");
    expect_manifest("x", "  {\"url\":\"u.jpg\"}\n", "[jsonl]u.jpg|-|-@1;");
    /* A header without a uri column is the manifest's error. */
    char *got = parse_all("m.csv", "a,b\n1,2\n", 8);
    assert_non_null(strstr(got, "OPEN:"));
    assert_non_null(strstr(got, "names no uri column"));
    free(got);
    /* An unterminated quote is a bad row, and the end. */
    expect_manifest("m.csv", "uri\nok.jpg\n\"never closed\nmore\n", "[csv]ok.jpg|-|-@2;ERR:PARSE@3;");
    /* Invalid UTF-8 in a caption and metadata becomes U+FFFD; the uri keeps its bytes. */
    expect_manifest("m.csv", "uri,caption,k\nbad\xff.jpg,caf\xe9,\xc0\xaf\n",
                    "[csv]bad\xff.jpg|caf\xef\xbf\xbd|{\"k\":\"\xef\xbf\xbd\xef\xbf\xbd\"}@2;");
    /* A NUL inside a lines row. */
    static const char nul_text[] = "a.jpg\nb\0c.jpg\nd.jpg\n";
    got = parse_all("l.txt", nul_text, sizeof nul_text - 1);
    assert_string_equal(got, "[lines]a.jpg|-|-@1;ERR:PARSE@2;d.jpg|-|-@3;");
    free(got);
}

static void make_file(const char *dir, const char *rel, const char *content)
{
    char *p = cdx_test_fmt("%s/%s", dir, rel);
    assert_int_equal(cdx_test_write_file(p, content, strlen(content)), 0);
    free(p);
}

static void make_link(const char *dir, const char *rel, const char *target)
{
    char *p = cdx_test_fmt("%s/%s", dir, rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

/* Runs a source over specs: "uri" or "uri!CODE" per item, relative to prefix. */
static char *walk(const char *const *specs, int n, const char *prefix, const char *ext)
{
    cdx_source_params p = cdx_source_default_params();
    p.extensions = ext;
    cdx_source *s = NULL;
    cdx_errbuf eb = {0};
    char *out = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&out, &len);
    if (cdx_source_open(specs, n, &p, &s, &eb) != CDX_OK) {
        fprintf(o, "OPEN:%s", eb.msg);
    } else {
        cdx_source_item *it;
        int r;
        size_t pl = strlen(prefix);
        while ((r = cdx_source_next(s, &it, &eb)) == 1) {
            const char *u = strncmp(it->uri, prefix, pl) == 0 ? it->uri + pl : it->uri;
            fprintf(o, "%s%s%s;", u, it->error ? "!" : "", it->error ? cdx_errname(it->error) : "");
            if (it->caption)
                fprintf(o, "c=%s;", it->caption);
            if (it->meta_json)
                fprintf(o, "m=%s;", it->meta_json);
            if (it->data)
                fprintf(o, "d=%zu;", it->len);
            cdx_source_item_free(it);
        }
        if (r < 0)
            fprintf(o, "ERROR:%s", eb.msg);
    }
    cdx_source_close(s);
    fclose(o);
    return out;
}

static void directories(void **state)
{
    (void)state;
    char *tmp = cdx_test_mkdtemp("src"), *root = cdx_test_fmt("%s/root", tmp), *outside = cdx_test_fmt("%s/out", tmp);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(outside, 0755), 0);
    make_file(outside, "secret.jpg", "x");
    char *sub = cdx_test_fmt("%s/sub", root), *deep = cdx_test_fmt("%s/sub/deep", root);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(mkdir(deep, 0755), 0);
    make_file(root, "b.jpg", "b");
    make_file(root, "a.PNG", "a");
    make_file(root, "notes.txt", "not an image");
    make_file(root, "sub/c.webp", "c");
    make_file(root, "sub/deep/d.jpg", "d");
    make_link(root, "sub/link_to_b.jpg", "../b.jpg");        /* inside: followed, own name */
    make_link(root, "sub/up", "..");                         /* a directory loop: entered once */
    make_link(root, "loop.jpg", "loop.jpg");                 /* a symlink loop: a failure */
    make_link(root, "gone.jpg", "nothing-here.jpg");         /* dangling: a failure */
    char *out_target = cdx_test_fmt("%s/secret.jpg", outside);
    make_link(root, "escape.jpg", out_target);               /* outside: not followed */
    make_link(root, "escape_dir", outside);
    char *fifo = cdx_test_fmt("%s/pipe.jpg", root);
    assert_int_equal(mkfifo(fifo, 0644), 0);                 /* matches, not a regular file */
    char *real = realpath(root, NULL), *prefix = cdx_test_fmt("%s/", real);

    const char *specs[] = {root};
    char *got = walk(specs, 1, prefix, NULL);
    assert_string_equal(got, "a.PNG;b.jpg;gone.jpg!NOTFOUND;loop.jpg!IO;pipe.jpg!UNSUPPORTED;"
                             "sub/c.webp;sub/link_to_b.jpg;sub/deep/d.jpg;");
    free(got);
    got = walk(specs, 1, prefix, "png,webp");
    assert_string_equal(got, "a.PNG;sub/c.webp;");
    free(got);

    /* The pre-scan counts the same good items. */
    int32_t est = -1;
    assert_int_equal(cdx_source_count(specs, 1, NULL, 0, &est, NULL), 5);
    assert_int_equal(est, 0);

    /* A single image and a missing source. */
    char *one = cdx_test_fmt("%s/b.jpg", root);
    const char *one_spec[] = {one};
    got = walk(one_spec, 1, prefix, NULL);
    assert_string_equal(got, "b.jpg;");
    free(got);
    const char *missing[] = {root, "/nonexistent/dir"};
    got = walk(missing, 2, prefix, NULL);
    assert_non_null(strstr(got, "OPEN:source /nonexistent/dir: No such file"));
    free(got);

    /* A manifest relative to its own directory, with a remote URI. */
    make_file(tmp, "m.csv", "uri,caption\nroot/b.jpg,bee\nhttps://example.com/x.jpg,remote\nfile://" "/etc/hostname,\n");
    char *man = cdx_test_fmt("%s/m.csv", tmp), *tmp_real = realpath(tmp, NULL), *tprefix = cdx_test_fmt("%s/", tmp_real);
    const char *man_spec[] = {man};
    got = walk(man_spec, 1, tprefix, NULL);
    assert_string_equal(got, "root/b.jpg;c=bee;https://example.com/x.jpg!UNSUPPORTED;/etc/hostname;");
    free(got);
    assert_int_equal(cdx_source_count(man_spec, 1, NULL, 0, &est, NULL), 2);

    cdx_test_rmtree(tmp);
    free(tmp), free(root), free(outside), free(sub), free(deep), free(out_target), free(fifo), free(real);
    free(prefix), free(one), free(man), free(tmp_real), free(tprefix);
}

static void add_entry(struct archive *a, const char *name, const char *data, size_t len)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 1700000000, 0);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

static void tar_shards(void **state)
{
    (void)state;
    char *tmp = cdx_test_mkdtemp("tar"), *real = realpath(tmp, NULL), *prefix = cdx_test_fmt("%s/", real);
    for (int s = 0; s < 2; s++) {
        char *path = cdx_test_fmt("%s/shard-%02d.tar%s", tmp, s, s ? ".gz" : "");
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (s)
            archive_write_add_filter_gzip(a);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        if (s == 0) {
            add_entry(a, "d/000.jpg", "JPEGDATA", 8);
            add_entry(a, "d/000.txt", "a caption\n", 10);
            add_entry(a, "d/000.json", "{\"id\":0,\"caption\":\"json cap\"}", 29);
            add_entry(a, "d/001.json", "{\"caption\":\"from json\"}", 23);
            add_entry(a, "d/001.png", "PNG", 3);
            add_entry(a, "d/002.txt", "no image here", 13);
            add_entry(a, "d/003.jpg", "J", 1);
            add_entry(a, "d/003.seg.png", "S", 1);
            add_entry(a, "d/003.json", "[not an object]", 15);
        } else {
            char big[64];
            memset(big, 'x', sizeof big);
            add_entry(a, "big.jpg", big, sizeof big);
            add_entry(a, "ok.webp", "W", 1);
        }
        archive_write_close(a);
        archive_write_free(a);
        free(path);
    }
    char *pattern = cdx_test_fmt("%s/shard-{00..01}.tar{,.gz}", tmp);
    /* Only the two shards that exist: the brace product names four. */
    char *s0 = cdx_test_fmt("%s/shard-00.tar", tmp), *s1 = cdx_test_fmt("%s/shard-01.tar.gz", tmp);
    const char *specs[] = {s0, s1};
    cdx_source_params p = cdx_source_default_params();
    p.max_bytes = 32;
    cdx_source *src = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_source_open(specs, 2, &p, &src, &eb), CDX_OK);
    char *got = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&got, &len);
    cdx_source_item *it;
    while (cdx_source_next(src, &it, &eb) == 1) {
        fprintf(o, "%s%s%s|%s|%s|%zu;", strncmp(it->uri, prefix, strlen(prefix)) == 0 ? it->uri + strlen(prefix) : it->uri,
                it->error ? "!" : "", it->error ? cdx_errname(it->error) : "", it->caption ? it->caption : "-",
                it->meta_json ? it->meta_json : "-", it->len);
        cdx_source_item_free(it);
    }
    int64_t done_b, total_b;
    cdx_source_tar_progress(src, &done_b, &total_b);
    assert_true(total_b > 0);
    assert_int_equal(done_b, total_b);
    cdx_source_close(src);
    fclose(o);
    assert_string_equal(got, "shard-00.tar#d/000.jpg|a caption|{\"id\":0,\"caption\":\"json cap\"}|8;"
                             "shard-00.tar#d/001.png|from json|{\"caption\":\"from json\"}|3;"
                             "shard-00.tar#d/003.jpg|-|-|1;shard-00.tar#d/003.seg.png|-|-|1;"
                             "shard-01.tar.gz#big.jpg!TOOBIG|-|-|0;shard-01.tar.gz#ok.webp|-|-|1;");
    free(got);

    const char *pat[] = {pattern};
    got = walk(pat, 1, prefix, NULL);
    assert_non_null(strstr(got, "OPEN:source"));
    assert_non_null(strstr(got, "shard-00.tar.gz"));
    free(got);

    /* Estimated count from sizes. */
    int32_t est = 0;
    int64_t n = cdx_source_count(specs, 2, NULL, 100.0, &est, NULL);
    assert_int_equal(est, 1);
    assert_true(n > 0);
    assert_int_equal(cdx_source_count(specs, 2, NULL, 0, &est, NULL), -1);

    /* A truncated shard: what was read counts, the damage is a failure. */
    size_t full_len;
    unsigned char *bytes = cdx_test_read_file(s0, &full_len);
    char *cut = cdx_test_fmt("%s/cut.tar", tmp);
    assert_int_equal(cdx_test_write_file(cut, bytes, 1536 + 100), 0);
    const char *cut_spec[] = {cut};
    got = walk(cut_spec, 1, prefix, NULL);
    assert_non_null(strstr(got, "cut.tar!"));
    free(got);
    free(bytes);

    cdx_test_rmtree(tmp);
    free(tmp), free(real), free(prefix), free(pattern), free(s0), free(s1), free(cut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(brace),       cmocka_unit_test(paths),      cmocka_unit_test(manifests),
        cmocka_unit_test(directories), cmocka_unit_test(tar_shards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
