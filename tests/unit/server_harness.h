/* Helpers for the server's unit tests: run a cdx_server on a free loopback
 * port in a thread, and a minimal blocking HTTP/1.1 client (one request per
 * connection, "Connection: close") that returns status, headers and body. */
#ifndef CDX_TEST_SERVER_HARNESS_H
#define CDX_TEST_SERVER_HARNESS_H

#include "server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct test_server {
    cdx_server *s;
    pthread_t th;
    int port;
} test_server;

static void *test_server_main(void *arg)
{
    cdx_server_run(arg);
    return NULL;
}

static inline int test_server_start(test_server *t, cdx_server_params p, cdx_encoder *enc,
                                    const cdx_server_catalog *cat)
{
    cdx_errbuf eb = {0};
    p.listen = "127.0.0.1:0";
    int rc = cdx_server_open(&p, enc, cat, &t->s, &eb);
    if (rc != CDX_OK) {
        fprintf(stderr, "server open: %s\n", cdx_errbuf_msg(&eb));
        return rc;
    }
    t->port = cdx_server_port(t->s);
    pthread_create(&t->th, NULL, test_server_main, t->s);
    return 0;
}

static inline void test_server_stop(test_server *t)
{
    cdx_server_stop(t->s);
    pthread_join(t->th, NULL);
    cdx_server_close(t->s);
    t->s = NULL;
}

static inline int test_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

typedef struct test_response {
    int status;
    char *raw;      /* the whole response, NUL-terminated */
    size_t raw_len;
    char *body;     /* points into raw */
    size_t body_len;
} test_response;

static inline void test_response_free(test_response *r)
{
    free(r->raw);
    memset(r, 0, sizeof *r);
}

/* Reads a whole response from fd until the server closes it. */
static inline int test_read_response(int fd, test_response *r)
{
    memset(r, 0, sizeof *r);
    size_t cap = 1 << 16;
    r->raw = malloc(cap);
    for (;;) {
        if (r->raw_len + 1 >= cap)
            r->raw = realloc(r->raw, cap *= 2);
        ssize_t n = read(fd, r->raw + r->raw_len, cap - r->raw_len - 1);
        if (n <= 0)
            break;
        r->raw_len += (size_t)n;
    }
    r->raw[r->raw_len] = 0;
    if (sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    char *b = strstr(r->raw, "\r\n\r\n");
    r->body = b ? b + 4 : r->raw + r->raw_len;
    r->body_len = r->raw_len - (size_t)(r->body - r->raw);
    return 0;
}

/* Sends method path with extra header lines (each ending in \r\n, or NULL)
 * and a body (may be NULL). */
static inline int test_http(int port, const char *method, const char *path, const char *headers, const void *body,
                            size_t body_len, test_response *r)
{
    int fd = test_connect(port);
    if (fd < 0)
        return -1;
    char head[8192];
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
                     method, path, headers ? headers : "", body_len);
    if (write(fd, head, (size_t)n) != n || (body_len && write(fd, body, body_len) != (ssize_t)body_len)) {
        close(fd);
        return -1;
    }
    int rc = test_read_response(fd, r);
    close(fd);
    return rc;
}

static inline const char *test_header(const test_response *r, const char *name, char *out, size_t cap)
{
    char key[128];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strcasestr(r->raw, key);
    if (!p || (r->body && p > r->body))
        return NULL;
    p += strlen(key);
    size_t n = strcspn(p, "\r\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

/* Reads exactly one response (headers + Content-Length bytes) from a
 * keep-alive connection, leaving it open. */
static inline int test_read_one(int fd, test_response *r)
{
    memset(r, 0, sizeof *r);
    size_t cap = 1 << 16, want = 0;
    r->raw = malloc(cap);
    char *end = NULL;
    for (;;) {
        if (r->raw_len + 1 >= cap)
            r->raw = realloc(r->raw, cap *= 2);
        r->raw[r->raw_len] = 0;
        if (!end && (end = strstr(r->raw, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(r->raw, "\r\nContent-Length: ");
            want = (size_t)(end + 4 - r->raw) + (cl && cl < end ? strtoul(cl + 18, NULL, 10) : 0);
        }
        if (end && r->raw_len >= want)
            break;
        ssize_t n = read(fd, r->raw + r->raw_len, cap - r->raw_len - 1);
        if (n <= 0)
            return -1;
        r->raw_len += (size_t)n;
    }
    r->raw[r->raw_len] = 0;
    if (sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    r->body = strstr(r->raw, "\r\n\r\n") + 4;
    r->body_len = r->raw_len - (size_t)(r->body - r->raw);
    return 0;
}

/* Polls /metrics until it holds the line `needle` (a condition to wait for,
 * instead of a fixed sleep a loaded machine can outlast). 0 when seen. */
static inline int test_wait_metric(int port, const char *needle)
{
    for (int i = 0; i < 3000; i++) {
        test_response r = {0};
        int seen = test_http(port, "GET", "/metrics", NULL, NULL, 0, &r) == 0 && r.status == 200 &&
                   strstr(r.body, needle) != NULL;
        test_response_free(&r);
        if (seen)
            return 0;
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

#endif
