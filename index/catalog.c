/* SQLite catalog: schema and migrations, the statement table, the writer
 * connection and the pool of reader connections. See catalog.h. */
#include "index/catalog.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cdx_catalog_schema_v1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "CREATE TABLE items(id INTEGER PRIMARY KEY, uri TEXT NOT NULL UNIQUE, content_hash TEXT NOT NULL,\n"
    "  bytes INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,\n"
    "  caption TEXT, meta_json TEXT, status TEXT NOT NULL DEFAULT 'embedded',\n"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);\n"
    "CREATE INDEX items_content_hash ON items(content_hash);\n"
    "CREATE TABLE vectors(seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE, contract_id TEXT NOT NULL,\n"
    "  space INTEGER NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL, UNIQUE(item_id, contract_id, space));\n"
    "CREATE TABLE failures(id INTEGER PRIMARY KEY, uri TEXT NOT NULL, contract_id TEXT NOT NULL,\n"
    "  content_hash TEXT NOT NULL DEFAULT '', stage TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,\n"
    "  attempts INTEGER NOT NULL DEFAULT 1, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,\n"
    "  UNIQUE(uri, contract_id));\n"
    "INSERT INTO meta(key, value) VALUES('schema_version', '1');\n";

/* Migrations: migrations[i] takes a database from version i+1 to i+2. */
static const char *const migrations[] = {
    /* 1 -> 2: tombstones, so checkpointed index files learn about deletes. */
    "CREATE TABLE tombstones(seq INTEGER PRIMARY KEY AUTOINCREMENT, space INTEGER NOT NULL,\n"
    "  item_id INTEGER NOT NULL, vec_seq INTEGER NOT NULL, contract_id TEXT NOT NULL);\n"
    "CREATE TRIGGER vectors_tombstone AFTER DELETE ON vectors BEGIN\n"
    "  INSERT INTO tombstones(space, item_id, vec_seq, contract_id)\n"
    "  VALUES(old.space, old.item_id, old.seq, old.contract_id);\n"
    "END;\n"
    "CREATE INDEX vectors_space_seq ON vectors(contract_id, space, seq);\n"
    "CREATE INDEX failures_first_seen ON failures(first_seen_ms);\n"
    "UPDATE meta SET value = '2' WHERE key = 'schema_version';\n",
};

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_META_GET,
    S_META_PUT,
    S_ITEM_BY_URI,
    S_ITEM_INSERT,
    S_ITEM_UPDATE,
    S_ITEM_DELETE,
    S_VEC_DELETE_ITEM,
    S_VEC_INSERT,
    S_VEC_SPACES_OF_ITEM,
    S_FAIL_CLEAR,
    S_FAIL_UPSERT,
    S_FAIL_LIST,
    S_LOOKUP_URI,
    S_LOOKUP_HASH,
    S_GET_VECTOR,
    S_GET_ITEM,
    S_COUNT_ITEMS,
    S_COUNT_FAILURES,
    S_COUNT_VECTORS,
    S_SEQ_HW,
    S_SCAN_VECTORS,
    S_SCAN_TOMBS,
    S_PRUNE_TOMBS,
    S_SPACE_IDS,
    S_COUNT,
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [S_META_PUT] = "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [S_ITEM_BY_URI] = "SELECT id FROM items WHERE uri = ?1",
    [S_ITEM_INSERT] = "INSERT INTO items(uri, content_hash, bytes, mtime_ns, width, height, caption, meta_json,"
                      " created_ms, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
    [S_ITEM_UPDATE] = "UPDATE items SET content_hash = ?2, bytes = ?3, mtime_ns = ?4, width = ?5, height = ?6,"
                      " caption = ?7, meta_json = ?8, status = 'embedded', updated_ms = ?9 WHERE id = ?1",
    [S_ITEM_DELETE] = "DELETE FROM items WHERE id = ?1",
    [S_VEC_DELETE_ITEM] = "DELETE FROM vectors WHERE item_id = ?1",
    [S_VEC_INSERT] = "INSERT INTO vectors(item_id, contract_id, space, dim, vec) VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_VEC_SPACES_OF_ITEM] = "SELECT DISTINCT space FROM vectors WHERE item_id = ?1",
    [S_FAIL_CLEAR] = "DELETE FROM failures WHERE uri = ?1 AND contract_id = ?2",
    [S_FAIL_UPSERT] = "INSERT INTO failures(uri, contract_id, content_hash, stage, code, message, attempts,"
                      " first_seen_ms, last_seen_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)"
                      " ON CONFLICT(uri, contract_id) DO UPDATE SET attempts = attempts + 1,"
                      " last_seen_ms = excluded.last_seen_ms, content_hash = excluded.content_hash,"
                      " stage = excluded.stage, code = excluded.code, message = excluded.message",
    [S_FAIL_LIST] = "SELECT uri, content_hash, stage, code, message, contract_id, attempts, first_seen_ms,"
                    " last_seen_ms FROM failures ORDER BY first_seen_ms, id",
    [S_LOOKUP_URI] = "SELECT i.id, i.content_hash, i.bytes, i.mtime_ns, EXISTS(SELECT 1 FROM vectors v"
                     " WHERE v.item_id = i.id AND v.contract_id = ?2 AND v.space = 0) FROM items i WHERE i.uri = ?1",
    [S_LOOKUP_HASH] = "SELECT i.id FROM items i JOIN vectors v ON v.item_id = i.id AND v.contract_id = ?2"
                      " AND v.space = 0 WHERE i.content_hash = ?1 ORDER BY i.id LIMIT 1",
    [S_GET_VECTOR] = "SELECT vec FROM vectors WHERE item_id = ?1 AND contract_id = ?2 AND space = ?3",
    [S_GET_ITEM] = "SELECT id, uri, content_hash, bytes, mtime_ns, width, height, caption, meta_json, created_ms,"
                   " updated_ms FROM items WHERE id = ?1",
    [S_COUNT_ITEMS] = "SELECT count(*) FROM items",
    [S_COUNT_FAILURES] = "SELECT count(*) FROM failures",
    [S_COUNT_VECTORS] = "SELECT count(*) FROM vectors WHERE contract_id = ?1 AND space = ?2",
    [S_SEQ_HW] = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'vectors'), 0),"
                 " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tombstones'), 0)",
    [S_SCAN_VECTORS] = "SELECT seq, item_id, vec FROM vectors WHERE contract_id = ?1 AND space = ?2 AND seq > ?3"
                       " AND seq <= ?4 ORDER BY seq",
    [S_SCAN_TOMBS] = "SELECT seq, item_id FROM tombstones WHERE space = ?1 AND seq > ?2 AND seq <= ?3"
                     " AND vec_seq <= ?4 ORDER BY seq",
    [S_PRUNE_TOMBS] = "DELETE FROM tombstones WHERE seq <= ?1",
    [S_SPACE_IDS] = "SELECT item_id FROM vectors WHERE contract_id = ?1 AND space = ?2 ORDER BY item_id",
};

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    struct conn *next_all, *next_idle;
} conn;

struct cdx_catalog {
    char *path;
    int read_only;
    int32_t schema;
    conn *writer;           /* NULL when read_only */
    pthread_mutex_t pool_mu;
    conn *idle;             /* read connections not in use */
    conn *all;              /* every read connection, for close */
};

static int sql_err(cdx_errbuf *eb, sqlite3 *db, const char *what)
{
    int code = sqlite3_errcode(db);
    int err = (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) ? CDX_ERR_CORRUPT
              : (code == SQLITE_FULL || code == SQLITE_IOERR) ? CDX_ERR_IO
              : code == SQLITE_NOMEM                          ? CDX_ERR_NOMEM
                                                              : CDX_ERR_SQLITE;
    return cdx_errbuf_set(eb, err, "catalog: %s: %s", what, sqlite3_errmsg(db));
}

static sqlite3_stmt *stmt(conn *c, enum stmt_id id, cdx_errbuf *eb)
{
    if (!c->st[id] && sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL) != SQLITE_OK) {
        sql_err(eb, c->db, stmt_sql[id]);
        return NULL;
    }
    sqlite3_reset(c->st[id]);
    sqlite3_clear_bindings(c->st[id]);
    return c->st[id];
}

static void conn_close(conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close_v2(c->db);
    free(c);
}

static int conn_open(const char *path, int flags, conn **out, cdx_errbuf *eb)
{
    *out = NULL;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "catalog: out of memory");
    if (sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        int rc = c->db ? sql_err(eb, c->db, path) : cdx_errbuf_set(eb, CDX_ERR_NOMEM, "catalog: out of memory");
        if (!c->db || sqlite3_errcode(c->db) == SQLITE_CANTOPEN)
            rc = cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "catalog %s cannot be opened: %s", path,
                                c->db ? sqlite3_errmsg(c->db) : "out of memory");
        conn_close(c);
        return rc;
    }
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_extended_result_codes(c->db, 0);
    *out = c;
    return CDX_OK;
}

static int exec(conn *c, const char *sql, cdx_errbuf *eb)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = sql_err(eb, c->db, msg ? msg : sql);
        sqlite3_free(msg);
        return rc;
    }
    return CDX_OK;
}

/* Single-row, single-step statement: SQLITE_DONE or SQLITE_ROW expected. */
static int step_done(conn *c, sqlite3_stmt *s, const char *what, cdx_errbuf *eb)
{
    int r = sqlite3_step(s);
    if (r != SQLITE_DONE && r != SQLITE_ROW)
        return sql_err(eb, c->db, what);
    return CDX_OK;
}

static int read_schema_version(conn *c, int32_t *v, cdx_errbuf *eb)
{
    *v = 0;
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &s, NULL);
    if (r != SQLITE_OK) { /* no meta table: an empty database */
        int empty = strstr(sqlite3_errmsg(c->db), "no such table") != NULL;
        sqlite3_finalize(s);
        return empty ? CDX_OK : sql_err(eb, c->db, "read schema version");
    }
    if (sqlite3_step(s) == SQLITE_ROW)
        *v = (int32_t)atoi((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return CDX_OK;
}

static int migrate(cdx_catalog *cat, cdx_errbuf *eb)
{
    conn *c = cat->writer;
    int32_t v;
    int rc = read_schema_version(c, &v, eb);
    if (rc != CDX_OK)
        return rc;
    if (v > CDX_CATALOG_SCHEMA_VERSION)
        return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED,
                              "catalog %s has schema version %d; this clipdex knows up to %d: use a newer clipdex",
                              cat->path, v, CDX_CATALOG_SCHEMA_VERSION);
    if (v == CDX_CATALOG_SCHEMA_VERSION)
        return CDX_OK;
    if ((rc = exec(c, "BEGIN IMMEDIATE", eb)) != CDX_OK)
        return rc;
    int fresh = v == 0;
    if (v == 0) {
        rc = exec(c, cdx_catalog_schema_v1, eb);
        v = 1;
    }
    for (; rc == CDX_OK && v < CDX_CATALOG_SCHEMA_VERSION; v++) {
        if (!fresh)
            cdx_log_info("catalog", "migrating %s from schema %d to %d", cat->path, v, v + 1);
        rc = exec(c, migrations[v - 1], eb);
    }
    if (rc == CDX_OK)
        rc = exec(c, "COMMIT", eb);
    else
        exec(c, "ROLLBACK", &(cdx_errbuf){0});
    return rc;
}

static const char *sync_pragma(int synchronous)
{
    static const char *const p[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL"};
    return p[synchronous >= 0 && synchronous <= 2 ? synchronous : 2];
}

int cdx_catalog_open(const char *path, int read_only, int create, int synchronous, cdx_catalog **out,
                     cdx_errbuf *eb)
{
    *out = NULL;
    cdx_catalog *cat = calloc(1, sizeof *cat);
    if (!cat || !(cat->path = strdup(path))) {
        free(cat);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "catalog: out of memory");
    }
    pthread_mutex_init(&cat->pool_mu, NULL);
    cat->read_only = read_only;
    int rc = CDX_OK;
    if (read_only) {
        /* A reader connection checks the file opens and reads the version. */
        conn *c;
        if ((rc = conn_open(path, SQLITE_OPEN_READONLY, &c, eb)) != CDX_OK)
            goto fail;
        rc = read_schema_version(c, &cat->schema, eb);
        if (rc == CDX_OK && cat->schema != CDX_CATALOG_SCHEMA_VERSION)
            rc = cdx_errbuf_set(eb, cat->schema > CDX_CATALOG_SCHEMA_VERSION ? CDX_ERR_UNSUPPORTED : CDX_ERR_CORRUPT,
                                "catalog %s has schema version %d, expected %d (open it once for writing to migrate)",
                                path, cat->schema, CDX_CATALOG_SCHEMA_VERSION);
        if (rc != CDX_OK) {
            conn_close(c);
            goto fail;
        }
        cat->idle = c;
        cat->all = c;
        *out = cat;
        return CDX_OK;
    }
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if ((rc = conn_open(path, flags, &cat->writer, eb)) != CDX_OK)
        goto fail;
    if ((rc = exec(cat->writer, "PRAGMA journal_mode=WAL", eb)) != CDX_OK ||
        (rc = exec(cat->writer, sync_pragma(synchronous), eb)) != CDX_OK ||
        (rc = exec(cat->writer, "PRAGMA foreign_keys=ON", eb)) != CDX_OK || (rc = migrate(cat, eb)) != CDX_OK)
        goto fail;
    cat->schema = CDX_CATALOG_SCHEMA_VERSION;
    *out = cat;
    return CDX_OK;
fail:
    cdx_catalog_close(cat);
    return rc;
}

void cdx_catalog_close(cdx_catalog *c)
{
    if (!c)
        return;
    for (conn *r = c->all, *next; r; r = next) {
        next = r->next_all;
        conn_close(r);
    }
    conn_close(c->writer);
    pthread_mutex_destroy(&c->pool_mu);
    free(c->path);
    free(c);
}

int32_t cdx_catalog_schema_version(const cdx_catalog *c) { return c->schema; }

/* ---- reader pool ---- */

/* A read connection for one call, from the idle list or newly opened; the
 * caller gives it back with rd_release. Each is used by one thread at a time,
 * so a reading thread never waits for another reader or for the writer. */
static conn *rd_acquire(cdx_catalog *cat, cdx_errbuf *eb)
{
    pthread_mutex_lock(&cat->pool_mu);
    conn *c = cat->idle;
    if (c)
        cat->idle = c->next_idle;
    pthread_mutex_unlock(&cat->pool_mu);
    if (c)
        return c;
    if (conn_open(cat->path, SQLITE_OPEN_READONLY, &c, eb) != CDX_OK)
        return NULL;
    pthread_mutex_lock(&cat->pool_mu);
    c->next_all = cat->all;
    cat->all = c;
    pthread_mutex_unlock(&cat->pool_mu);
    return c;
}

static void rd_release(cdx_catalog *cat, conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < S_COUNT; i++)
        if (c->st[i])
            sqlite3_reset(c->st[i]); /* end any read transaction the statement holds */
    pthread_mutex_lock(&cat->pool_mu);
    c->next_idle = cat->idle;
    cat->idle = c;
    pthread_mutex_unlock(&cat->pool_mu);
}

static int need_writer(cdx_catalog *cat, cdx_errbuf *eb)
{
    return cat->writer ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_INVAL, "catalog %s is open read-only", cat->path);
}

/* ---- meta ---- */

static int meta_get(conn *c, const char *key, char *buf, size_t cap, int *found, cdx_errbuf *eb)
{
    sqlite3_stmt *s = stmt(c, S_META_GET, eb);
    if (!s)
        return eb->code;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    *found = r == SQLITE_ROW;
    if (r == SQLITE_ROW)
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    else if (r != SQLITE_DONE)
        return sql_err(eb, c->db, "read meta");
    sqlite3_reset(s);
    return CDX_OK;
}

static int meta_put(conn *c, const char *key, const char *value, cdx_errbuf *eb)
{
    sqlite3_stmt *s = stmt(c, S_META_PUT, eb);
    if (!s)
        return eb->code;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    int rc = step_done(c, s, "write meta", eb);
    sqlite3_reset(s);
    return rc;
}

int cdx_catalog_get_stamp(cdx_catalog *cat, cdx_stamp *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int f1 = 0, f2 = 0, f3 = 0;
    char dim[32] = "";
    int rc = meta_get(c, "contract_id", out->contract_id, sizeof out->contract_id, &f1, eb);
    if (rc == CDX_OK)
        rc = meta_get(c, "space_hash", out->space_hash, sizeof out->space_hash, &f2, eb);
    if (rc == CDX_OK)
        rc = meta_get(c, "dim", dim, sizeof dim, &f3, eb);
    rd_release(cat, c);
    if (rc != CDX_OK)
        return rc;
    out->found = f1 && f2 && f3;
    out->dim = (int32_t)atoi(dim);
    if (out->found && (out->dim <= 0 || strlen(out->space_hash) != 64))
        return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "catalog %s: contract stamp is damaged (dim '%s')", cat->path, dim);
    return CDX_OK;
}

int cdx_catalog_set_stamp(cdx_catalog *cat, const cdx_stamp *st, cdx_errbuf *eb)
{
    int rc = need_writer(cat, eb);
    if (rc != CDX_OK)
        return rc;
    conn *c = cat->writer;
    char dim[32], now[32];
    snprintf(dim, sizeof dim, "%d", st->dim);
    snprintf(now, sizeof now, "%lld", (long long)cdx_clock_wall_ms());
    if ((rc = exec(c, "BEGIN IMMEDIATE", eb)) != CDX_OK)
        return rc;
    if ((rc = meta_put(c, "contract_id", st->contract_id, eb)) == CDX_OK &&
        (rc = meta_put(c, "space_hash", st->space_hash, eb)) == CDX_OK && (rc = meta_put(c, "dim", dim, eb)) == CDX_OK &&
        (rc = meta_put(c, "stamped_ms", now, eb)) == CDX_OK)
        rc = exec(c, "COMMIT", eb);
    if (rc != CDX_OK)
        exec(c, "ROLLBACK", &(cdx_errbuf){0});
    return rc;
}

/* ---- writes ---- */

static int check_vector(const float *v, int32_t dim, const char *uri, const char *what, cdx_errbuf *eb)
{
    double ss = 0;
    for (int32_t j = 0; j < dim; j++) {
        if (!isfinite(v[j]))
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "put %s: %s vector has a non-finite value at %d", uri, what, j);
        ss += (double)v[j] * v[j];
    }
    if (fabs(sqrt(ss) - 1.0) > 1e-3)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "put %s: %s vector has norm %.6f; vectors must be L2-normalized", uri,
                              what, sqrt(ss));
    return CDX_OK;
}

static int check_items(const cdx_item *items, const float *img, const float *cap, int32_t n, int32_t dim,
                       cdx_errbuf *eb)
{
    for (int32_t i = 0; i < n; i++) {
        const cdx_item *it = &items[i];
        if (!it->uri || !*it->uri)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "put batch: item %d has no uri", i);
        int rc = check_vector(img + (size_t)i * dim, dim, it->uri, "image", eb);
        if (rc == CDX_OK && cap && it->caption)
            rc = check_vector(cap + (size_t)i * dim, dim, it->uri, "caption", eb);
        if (rc != CDX_OK)
            return rc;
        if (it->meta_json) {
            json_error_t je;
            json_t *m = json_loads(it->meta_json, 0, &je);
            int ok = m && json_is_object(m);
            json_decref(m);
            if (!ok)
                return cdx_errbuf_set(eb, CDX_ERR_INVAL, "put %s: meta_json is not a JSON object (%s)", it->uri,
                                      m ? "another JSON type" : je.text);
        }
    }
    return CDX_OK;
}

static int bind_item(sqlite3_stmt *s, const cdx_item *it, const char *hash, int64_t now)
{
    sqlite3_bind_text(s, 2, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, it->bytes);
    sqlite3_bind_int64(s, 4, it->mtime_ns);
    sqlite3_bind_int(s, 5, it->width);
    sqlite3_bind_int(s, 6, it->height);
    if (it->caption)
        sqlite3_bind_text(s, 7, it->caption, -1, SQLITE_STATIC);
    if (it->meta_json)
        sqlite3_bind_text(s, 8, it->meta_json, -1, SQLITE_STATIC);
    return sqlite3_bind_int64(s, 9, now);
}

static int insert_vector(conn *c, int64_t item, const char *contract_id, int32_t space, const float *v, int32_t dim,
                         int64_t *seq, cdx_errbuf *eb)
{
    sqlite3_stmt *s = stmt(c, S_VEC_INSERT, eb);
    if (!s)
        return eb->code;
    sqlite3_bind_int64(s, 1, item);
    sqlite3_bind_text(s, 2, contract_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, space);
    sqlite3_bind_int(s, 4, dim);
    sqlite3_bind_blob(s, 5, v, (int)(sizeof(float) * (size_t)dim), SQLITE_STATIC);
    int rc = step_done(c, s, "insert vector", eb);
    *seq = sqlite3_last_insert_rowid(c->db);
    sqlite3_reset(s);
    return rc;
}

static int put_one(conn *c, const char *contract_id, int32_t dim, cdx_item *it, const float *img, const float *cap,
                   int64_t now, cdx_put_result *res, cdx_errbuf *eb)
{
    char hash[CDX_HASH128_HEX_LEN + 1];
    cdx_hash128_to_hex(it->content_hash, hash);
    memset(res, 0, sizeof *res);
    sqlite3_stmt *s = stmt(c, S_ITEM_BY_URI, eb);
    if (!s)
        return eb->code;
    sqlite3_bind_text(s, 1, it->uri, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    int64_t id = r == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return sql_err(eb, c->db, "look up uri");
    int rc;
    if (id) {
        if (!(s = stmt(c, S_ITEM_UPDATE, eb)))
            return eb->code;
        sqlite3_bind_int64(s, 1, id);
        bind_item(s, it, hash, now);
        rc = step_done(c, s, "update item", eb);
        sqlite3_reset(s);
        if (rc != CDX_OK)
            return rc;
        if (!(s = stmt(c, S_VEC_DELETE_ITEM, eb)))
            return eb->code;
        sqlite3_bind_int64(s, 1, id);
        rc = step_done(c, s, "replace vectors", eb);
        res->had_vectors = sqlite3_changes(c->db) > 0;
        sqlite3_reset(s);
    } else {
        if (!(s = stmt(c, S_ITEM_INSERT, eb)))
            return eb->code;
        sqlite3_bind_text(s, 1, it->uri, -1, SQLITE_STATIC);
        bind_item(s, it, hash, now);
        rc = step_done(c, s, "insert item", eb);
        id = sqlite3_last_insert_rowid(c->db);
        sqlite3_reset(s);
    }
    if (rc != CDX_OK)
        return rc;
    it->id = id;
    if ((rc = insert_vector(c, id, contract_id, CDX_SPACE_IMAGE, img, dim, &res->seq[CDX_SPACE_IMAGE], eb)) != CDX_OK)
        return rc;
    if (cap && it->caption &&
        (rc = insert_vector(c, id, contract_id, CDX_SPACE_CAPTION, cap, dim, &res->seq[CDX_SPACE_CAPTION], eb)) !=
            CDX_OK)
        return rc;
    if (!(s = stmt(c, S_FAIL_CLEAR, eb)))
        return eb->code;
    sqlite3_bind_text(s, 1, it->uri, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, contract_id, -1, SQLITE_STATIC);
    rc = step_done(c, s, "clear failures", eb);
    sqlite3_reset(s);
    return rc;
}

static int run_in_tx(conn *c, cdx_errbuf *eb, int rc_body)
{
    /* Commit when the body succeeded, roll back otherwise; the body's error wins. */
    sqlite3_stmt *s = stmt(c, rc_body == CDX_OK ? S_COMMIT : S_ROLLBACK, eb);
    if (!s)
        return rc_body != CDX_OK ? rc_body : eb->code;
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc_body != CDX_OK)
        return rc_body;
    if (r != SQLITE_DONE) {
        int rc = sql_err(eb, c->db, "commit");
        if (!sqlite3_get_autocommit(c->db))
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return CDX_OK;
}

static int begin(conn *c, cdx_errbuf *eb)
{
    sqlite3_stmt *s = stmt(c, S_BEGIN, eb);
    if (!s)
        return eb->code;
    int rc = step_done(c, s, "begin transaction", eb);
    sqlite3_reset(s);
    return rc;
}

int cdx_catalog_put_batch(cdx_catalog *cat, const char *contract_id, int32_t dim, cdx_item *items,
                          const float *image_vectors, const float *caption_vectors, int32_t n, cdx_put_result *res,
                          cdx_errbuf *eb)
{
    int rc = need_writer(cat, eb);
    if (rc == CDX_OK)
        rc = check_items(items, image_vectors, caption_vectors, n, dim, eb);
    if (rc != CDX_OK)
        return rc;
    conn *c = cat->writer;
    if ((rc = begin(c, eb)) != CDX_OK)
        return rc;
    int64_t now = cdx_clock_wall_ms();
    for (int32_t i = 0; i < n && rc == CDX_OK; i++)
        rc = put_one(c, contract_id, dim, &items[i], image_vectors + (size_t)i * dim,
                     caption_vectors ? caption_vectors + (size_t)i * dim : NULL, now, &res[i], eb);
    return run_in_tx(c, eb, rc);
}

int cdx_catalog_delete_item(cdx_catalog *cat, int64_t id, int32_t had_vector[CDX_SPACE_COUNT], cdx_errbuf *eb)
{
    int rc = need_writer(cat, eb);
    if (rc != CDX_OK)
        return rc;
    conn *c = cat->writer;
    memset(had_vector, 0, sizeof(int32_t) * CDX_SPACE_COUNT);
    if ((rc = begin(c, eb)) != CDX_OK)
        return rc;
    sqlite3_stmt *s = stmt(c, S_VEC_SPACES_OF_ITEM, eb);
    if (!s)
        return run_in_tx(c, eb, eb->code);
    sqlite3_bind_int64(s, 1, id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        int sp = sqlite3_column_int(s, 0);
        if (sp >= 0 && sp < CDX_SPACE_COUNT)
            had_vector[sp] = 1;
    }
    sqlite3_reset(s);
    if (!(s = stmt(c, S_VEC_DELETE_ITEM, eb)))
        return run_in_tx(c, eb, eb->code);
    sqlite3_bind_int64(s, 1, id);
    rc = step_done(c, s, "delete vectors", eb);
    sqlite3_reset(s);
    if (rc == CDX_OK) {
        if (!(s = stmt(c, S_ITEM_DELETE, eb)))
            return run_in_tx(c, eb, eb->code);
        sqlite3_bind_int64(s, 1, id);
        rc = step_done(c, s, "delete item", eb);
        if (rc == CDX_OK && sqlite3_changes(c->db) == 0)
            rc = cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "delete item %lld: no such item", (long long)id);
        sqlite3_reset(s);
    }
    return run_in_tx(c, eb, rc);
}

int cdx_catalog_put_failure(cdx_catalog *cat, const char *contract_id, const cdx_failure *f, cdx_errbuf *eb)
{
    int rc = need_writer(cat, eb);
    if (rc != CDX_OK)
        return rc;
    if (!f->uri || !*f->uri || !f->stage || !*f->stage)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "put failure: uri and stage are required");
    conn *c = cat->writer;
    char hash[CDX_HASH128_HEX_LEN + 1] = "";
    if (f->content_hash.hi || f->content_hash.lo)
        cdx_hash128_to_hex(f->content_hash, hash);
    sqlite3_stmt *s = stmt(c, S_FAIL_UPSERT, eb);
    if (!s)
        return eb->code;
    sqlite3_bind_text(s, 1, f->uri, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, contract_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, f->stage, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, cdx_errname(f->code), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, f->message ? f->message : cdx_strerror(f->code), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, cdx_clock_wall_ms());
    rc = step_done(c, s, "record failure", eb);
    sqlite3_reset(s);
    return rc;
}

int cdx_catalog_prune_tombstones(cdx_catalog *cat, int64_t upto, cdx_errbuf *eb)
{
    int rc = need_writer(cat, eb);
    if (rc != CDX_OK)
        return rc;
    sqlite3_stmt *s = stmt(cat->writer, S_PRUNE_TOMBS, eb);
    if (!s)
        return eb->code;
    sqlite3_bind_int64(s, 1, upto);
    rc = step_done(cat->writer, s, "prune tombstones", eb);
    sqlite3_reset(s);
    return rc;
}

/* ---- reads ---- */

int cdx_catalog_lookup_uri(cdx_catalog *cat, const char *contract_id, const char *uri, cdx_item_state *out,
                           cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int rc = CDX_OK;
    sqlite3_stmt *s = stmt(c, S_LOOKUP_URI, eb);
    if (!s) {
        rc = eb->code;
        goto done;
    }
    sqlite3_bind_text(s, 1, uri, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, contract_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        out->found = 1;
        out->id = sqlite3_column_int64(s, 0);
        const char *h = (const char *)sqlite3_column_text(s, 1);
        if (h)
            cdx_hash128_from_hex(h, &out->content_hash);
        out->bytes = sqlite3_column_int64(s, 2);
        out->mtime_ns = sqlite3_column_int64(s, 3);
        out->has_vector = sqlite3_column_int(s, 4);
    } else if (r != SQLITE_DONE) {
        rc = sql_err(eb, c->db, "look up uri");
    }
done:
    rd_release(cat, c);
    return rc;
}

int cdx_catalog_lookup_hash(cdx_catalog *cat, const char *contract_id, cdx_hash128 h, int64_t *id, cdx_errbuf *eb)
{
    *id = 0;
    char hex[CDX_HASH128_HEX_LEN + 1];
    cdx_hash128_to_hex(h, hex);
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int rc = CDX_OK;
    sqlite3_stmt *s = stmt(c, S_LOOKUP_HASH, eb);
    if (!s) {
        rc = eb->code;
        goto done;
    }
    sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, contract_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    else if (r != SQLITE_DONE)
        rc = sql_err(eb, c->db, "look up content hash");
done:
    rd_release(cat, c);
    return rc;
}

int cdx_catalog_get_vector(cdx_catalog *cat, const char *contract_id, int64_t id, int32_t space, int32_t dim, float *out,
                           cdx_errbuf *eb)
{
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int rc = CDX_OK;
    sqlite3_stmt *s = stmt(c, S_GET_VECTOR, eb);
    if (!s) {
        rc = eb->code;
        goto done;
    }
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, contract_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, space);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 0) != (int)(sizeof(float) * (size_t)dim))
            rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "catalog: vector of item %lld has %d bytes, expected %zu",
                                (long long)id, sqlite3_column_bytes(s, 0), sizeof(float) * (size_t)dim);
        else
            memcpy(out, sqlite3_column_blob(s, 0), sizeof(float) * (size_t)dim);
    } else if (r == SQLITE_DONE) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "item %lld has no %s vector", (long long)id,
                            space == CDX_SPACE_IMAGE ? "image" : "caption");
    } else {
        rc = sql_err(eb, c->db, "read vector");
    }
done:
    rd_release(cat, c);
    return rc;
}

int cdx_catalog_get_vectors(cdx_catalog *cat, const char *contract_id, int32_t space, int32_t dim, const int64_t *ids,
                            int32_t n, float *out, uint8_t *found, cdx_errbuf *eb)
{
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int rc = exec(c, "BEGIN", eb); /* one snapshot for the whole set */
    size_t bytes = sizeof(float) * (size_t)dim;
    for (int32_t i = 0; i < n && rc == CDX_OK; i++) {
        sqlite3_stmt *s = stmt(c, S_GET_VECTOR, eb);
        if (!s) {
            rc = eb->code;
            break;
        }
        sqlite3_bind_int64(s, 1, ids[i]);
        sqlite3_bind_text(s, 2, contract_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, space);
        int r = sqlite3_step(s);
        found[i] = r == SQLITE_ROW && (size_t)sqlite3_column_bytes(s, 0) == bytes;
        if (found[i])
            memcpy(out + (size_t)i * dim, sqlite3_column_blob(s, 0), bytes);
        else if (r != SQLITE_ROW && r != SQLITE_DONE)
            rc = sql_err(eb, c->db, "read vectors");
        sqlite3_reset(s);
    }
    exec(c, "COMMIT", &(cdx_errbuf){0});
    rd_release(cat, c);
    return rc;
}

static char *dup_col(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? strdup(t) : NULL;
}

int cdx_catalog_get_item(cdx_catalog *cat, int64_t id, cdx_item_row *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int rc = CDX_OK;
    sqlite3_stmt *s = stmt(c, S_GET_ITEM, eb);
    if (!s) {
        rc = eb->code;
        goto done;
    }
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->uri = dup_col(s, 1);
        snprintf(out->content_hash, sizeof out->content_hash, "%s", (const char *)sqlite3_column_text(s, 2));
        out->bytes = sqlite3_column_int64(s, 3);
        out->mtime_ns = sqlite3_column_int64(s, 4);
        out->width = sqlite3_column_int(s, 5);
        out->height = sqlite3_column_int(s, 6);
        out->caption = dup_col(s, 7);
        out->meta_json = dup_col(s, 8);
        out->created_ms = sqlite3_column_int64(s, 9);
        out->updated_ms = sqlite3_column_int64(s, 10);
        if (!out->uri)
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "read item %lld: out of memory", (long long)id);
    } else if (r == SQLITE_DONE) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "item %lld: no such item", (long long)id);
    } else {
        rc = sql_err(eb, c->db, "read item");
    }
done:
    rd_release(cat, c);
    return rc;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

int cdx_catalog_list_failures(cdx_catalog *cat, cdx_failure_fn fn, void *ctx, cdx_errbuf *eb)
{
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int rc = CDX_OK;
    sqlite3_stmt *s = stmt(c, S_FAIL_LIST, eb);
    if (!s) {
        rc = eb->code;
        goto done;
    }
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        cdx_failure_row row = {
            .uri = col_text(s, 0),
            .content_hash = col_text(s, 1),
            .stage = col_text(s, 2),
            .code = col_text(s, 3),
            .message = col_text(s, 4),
            .contract_id = col_text(s, 5),
            .attempts = sqlite3_column_int(s, 6),
            .first_seen_ms = sqlite3_column_int64(s, 7),
            .last_seen_ms = sqlite3_column_int64(s, 8),
        };
        if ((rc = fn(ctx, &row)) != 0)
            goto done;
    }
    if (r != SQLITE_DONE)
        rc = sql_err(eb, c->db, "list failures");
done:
    rd_release(cat, c);
    return rc;
}

static int count1(conn *c, enum stmt_id id, int64_t *out, cdx_errbuf *eb)
{
    sqlite3_stmt *s = stmt(c, id, eb);
    if (!s)
        return eb->code;
    int r = sqlite3_step(s);
    *out = r == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return r == SQLITE_ROW ? CDX_OK : sql_err(eb, c->db, stmt_sql[id]);
}

int cdx_catalog_counts_get(cdx_catalog *cat, const char *contract_id, cdx_catalog_counts *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    /* One read transaction, so the counts agree with each other. */
    int rc = exec(c, "BEGIN", eb);
    if (rc == CDX_OK)
        rc = count1(c, S_COUNT_ITEMS, &out->items, eb);
    if (rc == CDX_OK)
        rc = count1(c, S_COUNT_FAILURES, &out->failures, eb);
    if (rc == CDX_OK) {
        sqlite3_stmt *s = stmt(c, S_SEQ_HW, eb);
        if (!s)
            rc = eb->code;
        else if (sqlite3_step(s) == SQLITE_ROW) {
            out->vec_hw = sqlite3_column_int64(s, 0);
            out->tomb_hw = sqlite3_column_int64(s, 1);
        } else
            rc = sql_err(eb, c->db, "read sequences");
        if (s)
            sqlite3_reset(s);
    }
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT && rc == CDX_OK; sp++) {
        sqlite3_stmt *s = stmt(c, S_COUNT_VECTORS, eb);
        if (!s) {
            rc = eb->code;
            break;
        }
        sqlite3_bind_text(s, 1, contract_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, sp);
        if (sqlite3_step(s) == SQLITE_ROW) {
            out->vectors[sp] = sqlite3_column_int64(s, 0);
        } else {
            rc = sql_err(eb, c->db, "count vectors");
        }
        sqlite3_reset(s);
    }
    exec(c, "COMMIT", &(cdx_errbuf){0});
    rd_release(cat, c);
    return rc;
}

int cdx_catalog_scan_vectors(cdx_catalog *cat, const char *contract_id, int32_t space, int32_t dim, int64_t after,
                             int64_t upto, cdx_vector_fn fn, void *ctx, cdx_errbuf *eb)
{
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int rc = CDX_OK, r;
    sqlite3_stmt *s = stmt(c, S_SCAN_VECTORS, eb);
    if (!s) {
        rc = eb->code;
        goto done;
    }
    sqlite3_bind_text(s, 1, contract_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, space);
    sqlite3_bind_int64(s, 3, after);
    sqlite3_bind_int64(s, 4, upto);
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0), item = sqlite3_column_int64(s, 1);
        if (sqlite3_column_bytes(s, 2) != (int)(sizeof(float) * (size_t)dim)) {
            rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "catalog: vector row %lld has %d bytes, expected %zu",
                                (long long)seq, sqlite3_column_bytes(s, 2), sizeof(float) * (size_t)dim);
            goto done;
        }
        /* SQLite blobs have no alignment promise; vectors are read as floats. */
        const void *blob = sqlite3_column_blob(s, 2);
        float tmp[4096];
        const float *v = blob;
        if (((uintptr_t)blob & 3) != 0 && dim <= 4096) {
            memcpy(tmp, blob, sizeof(float) * (size_t)dim);
            v = tmp;
        }
        if ((rc = fn(ctx, seq, item, v)) != 0)
            goto done;
    }
    if (r != SQLITE_DONE)
        rc = sql_err(eb, c->db, "scan vectors");
done:
    if (s)
        sqlite3_reset(s);
    rd_release(cat, c);
    return rc;
}

typedef struct sample_ctx {
    float *out;
    int64_t want, got, stride, seen;
    int32_t dim;
} sample_ctx;

static int sample_take(void *ctx, int64_t seq, int64_t item, const float *vec)
{
    (void)seq;
    (void)item;
    sample_ctx *sc = ctx;
    if (sc->seen++ % sc->stride == 0 && sc->got < sc->want)
        memcpy(sc->out + sc->got++ * sc->dim, vec, sizeof(float) * (size_t)sc->dim);
    return sc->got < sc->want ? 0 : 1;
}

int cdx_catalog_sample_vectors(cdx_catalog *cat, const char *contract_id, int32_t space, int32_t dim, int64_t n,
                               float *out, int64_t *got, cdx_errbuf *eb)
{
    cdx_catalog_counts cnt;
    int rc = cdx_catalog_counts_get(cat, contract_id, &cnt, eb);
    if (rc != CDX_OK)
        return rc;
    sample_ctx sc = {out, n, 0, CDX_MAX(cnt.vectors[space] / CDX_MAX(n, 1), 1), 0, dim};
    rc = cdx_catalog_scan_vectors(cat, contract_id, space, dim, 0, INT64_MAX, sample_take, &sc, eb);
    *got = sc.got;
    return rc == 1 ? CDX_OK : rc;
}

int cdx_catalog_scan_tombstones(cdx_catalog *cat, int32_t space, int64_t after, int64_t upto, int64_t vec_upto,
                                cdx_tomb_fn fn, void *ctx, cdx_errbuf *eb)
{
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int rc = CDX_OK, r;
    sqlite3_stmt *s = stmt(c, S_SCAN_TOMBS, eb);
    if (!s) {
        rc = eb->code;
        goto done;
    }
    sqlite3_bind_int(s, 1, space);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, upto);
    sqlite3_bind_int64(s, 4, vec_upto);
    while ((r = sqlite3_step(s)) == SQLITE_ROW)
        if ((rc = fn(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1))) != 0)
            goto done;
    if (r != SQLITE_DONE)
        rc = sql_err(eb, c->db, "scan tombstones");
done:
    if (s)
        sqlite3_reset(s);
    rd_release(cat, c);
    return rc;
}

int cdx_catalog_integrity(cdx_catalog *cat, int32_t *ok, cdx_errbuf *eb)
{
    *ok = 0;
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    sqlite3_stmt *s = NULL;
    int rc = CDX_OK;
    if (sqlite3_prepare_v2(c->db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK) {
        rc = sql_err(eb, c->db, "integrity_check");
        goto done;
    }
    char report[CDX_ERRMSG_MAX] = "";
    size_t used = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *line = col_text(s, 0);
        if (strcmp(line, "ok") == 0) {
            *ok = 1;
            break;
        }
        used += (size_t)snprintf(report + used, used < sizeof report ? sizeof report - used : 0, "%s%s",
                                 used ? "; " : "", line);
        if (used >= sizeof report)
            break;
    }
    if (!*ok)
        cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "catalog %s: integrity_check: %s", cat->path, report);
done:
    sqlite3_finalize(s);
    rd_release(cat, c);
    return rc;
}

int cdx_catalog_space_ids(cdx_catalog *cat, const char *contract_id, int32_t space, int64_t **ids, int64_t *n,
                          cdx_errbuf *eb)
{
    *ids = NULL;
    *n = 0;
    conn *c = rd_acquire(cat, eb);
    if (!c)
        return eb->code;
    int rc = CDX_OK, r;
    int64_t cap = 0;
    sqlite3_stmt *s = stmt(c, S_SPACE_IDS, eb);
    if (!s) {
        rc = eb->code;
        goto done;
    }
    sqlite3_bind_text(s, 1, contract_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, space);
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4096;
            int64_t *grown = realloc(*ids, sizeof(int64_t) * (size_t)cap);
            if (!grown) {
                rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "catalog: out of memory listing ids");
                goto done;
            }
            *ids = grown;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    if (r != SQLITE_DONE)
        rc = sql_err(eb, c->db, "list vector ids");
done:
    if (s)
        sqlite3_reset(s);
    rd_release(cat, c);
    if (rc != CDX_OK) {
        CDX_FREE(*ids);
        *n = 0;
    }
    return rc;
}
