/* Directory source: a tree walked depth-first in byte order of names (the
 * same tree always yields the same sequence), files filtered by extension.
 *
 * Symlinks are followed only when they resolve inside the root: an item
 * keeps the symlink's own name as its uri (the same bytes under two names
 * become two items and one embedding). Every directory is entered once, by
 * device and inode, so a link back to an ancestor ends the loop instead of
 * the walk. A symlink loop, a dangling link or an unreadable directory is an
 * item with an error (the job records it); a link outside the root is
 * skipped and counted. Paths are kept as strings of pending directories, not
 * open descriptors, so depth costs memory, not file descriptors. */
#include "common/escape.h"
#include "common/log.h"
#include "ingest/source_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct dir_id {
    dev_t dev;
    ino_t ino;
} dir_id;

typedef struct dir_src {
    cdx_source_params params;
    char *root_real;       /* realpath of the root: links must resolve under it */
    char **stack;          /* directories still to walk (absolute paths); the top is walked next */
    size_t n_stack, cap_stack;
    dir_id *visited;       /* open-addressing set of directories entered */
    size_t n_visited, cap_visited;
    char *cur;             /* the directory being listed */
    char **names;          /* its entries, sorted */
    size_t n_names, next_name;
    char **subdirs;        /* its subdirectories, pushed when its entries are done */
    size_t n_subdirs, cap_subdirs;
    uint64_t outside;      /* links not followed: they leave the root */
} dir_src;

static size_t id_hash(dir_id id, size_t cap)
{
    uint64_t h = (uint64_t)id.ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)id.dev * 0xc2b2ae3d27d4eb4full;
    return (size_t)(h >> 17) & (cap - 1);
}

/* 1 when newly added, 0 when already there, < 0 when out of memory. */
static int visit(dir_src *d, dev_t dev, ino_t ino)
{
    if ((d->n_visited + 1) * 2 > d->cap_visited) {
        size_t cap = d->cap_visited ? d->cap_visited * 2 : 64;
        dir_id *v = calloc(cap, sizeof *v);
        if (!v)
            return CDX_ERR_NOMEM;
        for (size_t i = 0; i < d->cap_visited; i++) {
            if (d->visited[i].ino == 0 && d->visited[i].dev == 0)
                continue;
            size_t h = id_hash(d->visited[i], cap);
            while (v[h].ino || v[h].dev)
                h = (h + 1) & (cap - 1);
            v[h] = d->visited[i];
        }
        free(d->visited);
        d->visited = v, d->cap_visited = cap;
    }
    dir_id id = {dev, ino ? ino : (ino_t)-1};
    size_t h = id_hash(id, d->cap_visited);
    for (; d->visited[h].ino || d->visited[h].dev; h = (h + 1) & (d->cap_visited - 1))
        if (d->visited[h].ino == id.ino && d->visited[h].dev == id.dev)
            return 0;
    d->visited[h] = id;
    d->n_visited++;
    return 1;
}

static int push(char ***list, size_t *n, size_t *cap, char *s)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        char **p = realloc(*list, c * sizeof *p);
        if (!p)
            return CDX_ERR_NOMEM;
        *list = p, *cap = c;
    }
    (*list)[(*n)++] = s;
    return CDX_OK;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (s) {
        memcpy(s, dir, a);
        s[a] = '/';
        memcpy(s + a + 1, name, b + 1);
        if (a == 1 && dir[0] == '/')
            memmove(s + 1, s + 2, b + 1);
    }
    return s;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_listing(dir_src *d)
{
    for (size_t i = 0; i < d->n_names; i++)
        free(d->names[i]);
    free(d->names);
    d->names = NULL;
    d->n_names = d->next_name = 0;
    free(d->cur);
    d->cur = NULL;
}

static void dir_close(void *impl)
{
    dir_src *d = impl;
    if (!d)
        return;
    if (d->outside && !d->params.quiet)
        cdx_log_info("ingest", "%llu symlink(s) under %s point outside it and were not followed",
                     (unsigned long long)d->outside, d->root_real);
    free_listing(d);
    for (size_t i = 0; i < d->n_stack; i++)
        free(d->stack[i]);
    for (size_t i = 0; i < d->n_subdirs; i++)
        free(d->subdirs[i]);
    free(d->stack);
    free(d->subdirs);
    free(d->visited);
    free(d->root_real);
    free((char *)d->params.extensions);
    free(d);
}

int cdx_source_dir_open(const char *spec, const cdx_source_params *p, void **impl, cdx_errbuf *eb)
{
    char shown[512];
    dir_src *d = calloc(1, sizeof *d);
    struct stat st;
    int rc = CDX_OK;
    *impl = NULL;
    if (!d)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    d->params = *p;
    d->params.extensions = p->extensions ? strdup(p->extensions) : NULL;
    if (!(d->root_real = realpath(spec, NULL)) || stat(d->root_real, &st) != 0) {
        rc = cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO, "source %s: %s",
                            cdx_escape_name(spec, shown, sizeof shown), strerror(errno));
        goto done;
    }
    char *root = strdup(d->root_real);
    if (!root || visit(d, st.st_dev, st.st_ino) < 0 || push(&d->stack, &d->n_stack, &d->cap_stack, root) != CDX_OK) {
        free(root);
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    }
done:
    if (rc != CDX_OK)
        dir_close(d);
    else
        *impl = d;
    return rc;
}

/* Lists the next directory on the stack into names. 1 when listed, 0 when
 * the stack is empty; an item with an error when it cannot be read. */
static int list_next_dir(dir_src *d, cdx_source_item **out)
{
    if (d->n_stack == 0)
        return 0;
    d->cur = d->stack[--d->n_stack];
    DIR *dir = opendir(d->cur);
    if (!dir) {
        int e = errno;
        *out = cdx_source_item_failed(d->cur, e == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO,
                                      "cannot list directory: %s; its images were not read (check its permissions)",
                                      strerror(e));
        free(d->cur);
        d->cur = NULL;
        return *out ? 2 : CDX_ERR_NOMEM;
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = 1;
    while ((e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *name = strdup(e->d_name);
        if (!name || push(&d->names, &d->n_names, &cap, name) != CDX_OK) {
            free(name);
            rc = CDX_ERR_NOMEM;
            break;
        }
    }
    closedir(dir);
    qsort(d->names, d->n_names, sizeof *d->names, by_name);
    return rc;
}

/* Decides about one entry of the current directory. 1 and an item, 0 when
 * the entry yields none, < 0 out of memory. */
static int consider(dir_src *d, const char *name, cdx_source_item **out)
{
    char *path = join(d->cur, name);
    if (!path)
        return CDX_ERR_NOMEM;
    int rc = 0, wanted = cdx_source_ext_match(name, d->params.extensions);
    struct stat lst, st;
    if (lstat(path, &lst) != 0) {
        rc = 0; /* vanished since the listing */
        goto done;
    }
    st = lst;
    if (S_ISLNK(lst.st_mode)) {
        if (stat(path, &st) != 0) {
            int e = errno;
            if (wanted)
                *out = cdx_source_item_failed(path, e == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO, "%s",
                                              e == ELOOP    ? "symlink loop: too many levels of symbolic links; fix or remove the link"
                                              : e == ENOENT ? "dangling symlink: its target does not exist"
                                                            : strerror(e));
            rc = wanted ? (*out ? 1 : CDX_ERR_NOMEM) : 0;
            goto done;
        }
        char *real = realpath(path, NULL);
        size_t rn = strlen(d->root_real);
        int inside = real && strncmp(real, d->root_real, rn) == 0 &&
                     (real[rn] == '/' || real[rn] == '\0' || (rn == 1 && d->root_real[0] == '/'));
        free(real);
        if (!inside) {
            if (wanted || S_ISDIR(st.st_mode)) {
                d->outside++;
                char shown[512];
                cdx_log_debug("ingest", "not following %s: it points outside %s", cdx_escape_name(path, shown, sizeof shown),
                              d->root_real);
            }
            goto done;
        }
    }
    if (S_ISDIR(st.st_mode)) {
        int v = visit(d, st.st_dev, st.st_ino);
        if (v < 0 || (v == 1 && push(&d->subdirs, &d->n_subdirs, &d->cap_subdirs, path) != CDX_OK)) {
            rc = CDX_ERR_NOMEM;
            goto done;
        }
        if (v == 1)
            path = NULL; /* now on the subdirectory list */
        goto done;
    }
    if (!wanted)
        goto done;
    if (!S_ISREG(st.st_mode)) {
        *out = cdx_source_item_failed(path, CDX_ERR_UNSUPPORTED,
                                      "not a regular file (a FIFO, socket or device); clipdex reads only files");
        rc = *out ? 1 : CDX_ERR_NOMEM;
        goto done;
    }
    if (!(*out = cdx_source_item_new(path, path))) {
        rc = CDX_ERR_NOMEM;
        goto done;
    }
    if (d->params.stat_files || S_ISLNK(lst.st_mode)) {
        (*out)->size = (int64_t)st.st_size;
        (*out)->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    rc = 1;
done:
    free(path);
    return rc;
}

static int dir_next(void *impl, cdx_source_item **out, cdx_errbuf *eb)
{
    dir_src *d = impl;
    for (;;) {
        while (d->cur && d->next_name < d->n_names) {
            int r = consider(d, d->names[d->next_name++], out);
            if (r < 0)
                return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
            if (r == 1)
                return 1;
        }
        /* This directory is done: its subdirectories go on the stack, the
         * first name on top, so the walk stays in name order. */
        while (d->n_subdirs)
            if (push(&d->stack, &d->n_stack, &d->cap_stack, d->subdirs[--d->n_subdirs]) != CDX_OK)
                return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
        free_listing(d);
        int r = list_next_dir(d, out);
        if (r == 0)
            return 0;
        if (r == 2)
            return 1;
        if (r < 0)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sources: out of memory");
    }
}

const cdx_source_kind cdx_source_dir_kind = {"directory", dir_next, dir_close};
