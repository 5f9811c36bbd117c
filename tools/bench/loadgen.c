/* cdx_loadgen: the HTTP/1.1 load generator of the server benchmark
 * (tools/bench/server_bench.sh). wrk is closed-loop: each connection waits
 * for its answer before the next request, so an overloaded server slows the
 * offered load down and its queueing hides (coordinated omission). This
 * generator has both modes:
 *
 *   open loop (--rate R): requests are scheduled at a constant rate whether
 *     or not earlier ones came back; each waits for a free keep-alive
 *     connection (opening more, up to --max-connections) and its latency is
 *     counted from its scheduled time, so a stalled generator or server
 *     shows up as latency, never as a lower rate;
 *   closed loop (--connections N): N connections, each sending its next
 *     request when the previous answer arrived (saturation throughput).
 *
 * One thread, epoll, non-blocking sockets. Bodies come from a file, one per
 * line, taken in turn. Only requests scheduled after --warmup count; after
 * --duration no more are sent and the ones in flight get --drain seconds.
 * Prints one JSON object: answers by status, latency percentiles of the 2xx
 * and of the 503 answers (from schedule and from the write), completions
 * within --deadline-ms per second, generator lag, a per-second timeline. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "cdx_loadgen: %s\n", what);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        die("out of memory");
    return q;
}

/* ---- samples ----------------------------------------------------------- */

typedef struct series {
    double *v;
    size_t n, cap;
} series;

static void series_add(series *s, double x)
{
    if (s->n == s->cap)
        s->v = xrealloc(s->v, (s->cap = s->cap ? s->cap * 2 : 4096) * sizeof *s->v);
    s->v[s->n++] = x;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Exact percentile (nearest rank) of a sorted series. */
static double pct(const series *s, double p)
{
    if (!s->n)
        return 0;
    size_t i = (size_t)(p * (double)s->n + 0.999999);
    if (i < 1)
        i = 1;
    if (i > s->n)
        i = s->n;
    return s->v[i - 1];
}

static void print_series(FILE *f, const char *name, series *s)
{
    qsort(s->v, s->n, sizeof *s->v, cmp_d);
    fprintf(f, "\"%s\": {\"count\": %zu, \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}", name,
            s->n, pct(s, 0.5), pct(s, 0.9), pct(s, 0.99), pct(s, 0.999), s->n ? s->v[s->n - 1] : 0.0);
}

/* ---- connections --------------------------------------------------------- */

enum conn_state { C_CLOSED = 0, C_CONNECTING, C_WRITING, C_READING, C_IDLE };

typedef struct conn {
    int fd;
    enum conn_state st;
    const char *req;
    size_t req_len, written;
    char *in;
    size_t in_len, in_cap;
    int64_t sched_ns, sent_ns;
} conn;

typedef struct gen {
    struct sockaddr_in addr;
    int ep;
    conn *conns;
    int max_conns, n_open;
    int *idle;
    int n_idle;
    char **reqs;
    size_t *req_lens;
    int n_reqs, next_req;
    /* scheduled, not yet sent (open loop): a ring of scheduled times */
    int64_t *pend;
    size_t pend_head, pend_n, pend_cap;
    /* measurement */
    int64_t t0, win_start, win_end, deadline_ns;
    uint64_t by_status[600], sent, answered, errors, in_window;
    uint64_t ok_within_deadline;
    series ok_sched, ok_sent, refused_sched, refused_sent, other_sent, lag;
    /* per-second timeline of the window, by completion time */
    int n_sec;
    uint64_t *tl_ok, *tl_refused, *tl_other;
    double *tl_ok_max;
} gen;

static void ep_set(gen *g, int i, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};
    if (epoll_ctl(g->ep, op, g->conns[i].fd, &ev) != 0)
        die("epoll_ctl failed");
}

static void conn_close(gen *g, int i)
{
    conn *c = &g->conns[i];
    if (c->fd >= 0) {
        epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        g->n_open--;
    }
    c->fd = -1;
    c->st = C_CLOSED;
    c->in_len = 0;
}

static void conn_write(gen *g, int i)
{
    conn *c = &g->conns[i];
    while (c->written < c->req_len) {
        ssize_t n = write(c->fd, c->req + c->written, c->req_len - c->written);
        if (n < 0 && errno == EAGAIN) {
            if (c->st != C_WRITING) {
                c->st = C_WRITING;
                ep_set(g, i, EPOLLOUT, EPOLL_CTL_MOD);
            }
            return;
        }
        if (n <= 0) {
            g->errors++;
            conn_close(g, i);
            return;
        }
        c->written += (size_t)n;
    }
    c->st = C_READING;
    ep_set(g, i, EPOLLIN, EPOLL_CTL_MOD);
}

/* Gives the next request to connection i (idle, or closed: it reconnects). */
static void conn_start(gen *g, int i, int64_t sched_ns)
{
    conn *c = &g->conns[i];
    c->req = g->reqs[g->next_req];
    c->req_len = g->req_lens[g->next_req];
    g->next_req = (g->next_req + 1) % g->n_reqs;
    c->written = 0;
    c->in_len = 0;
    c->sched_ns = sched_ns;
    c->sent_ns = now_ns();
    g->sent++;
    if (sched_ns >= g->win_start && sched_ns < g->win_end)
        series_add(&g->lag, (double)(c->sent_ns - sched_ns) / 1e6);
    if (c->st == C_CLOSED) {
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c->fd < 0)
            die("socket failed (raise ulimit -n?)");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        g->n_open++;
        if (connect(c->fd, (struct sockaddr *)&g->addr, sizeof g->addr) != 0 && errno != EINPROGRESS) {
            g->errors++;
            conn_close(g, i);
            return;
        }
        c->st = C_CONNECTING;
        ep_set(g, i, EPOLLOUT, EPOLL_CTL_ADD);
        return;
    }
    c->st = C_WRITING;
    conn_write(g, i);
}

static void record(gen *g, conn *c, int status, int64_t done_ns)
{
    g->answered++;
    if (c->sched_ns < g->win_start || c->sched_ns >= g->win_end)
        return;
    g->in_window++;
    g->by_status[status >= 100 && status < 600 ? status : 0]++;
    double from_sched = (double)(done_ns - c->sched_ns) / 1e6, from_sent = (double)(done_ns - c->sent_ns) / 1e6;
    int sec = (int)((done_ns - g->win_start) / 1000000000LL);
    if (sec >= g->n_sec)
        sec = g->n_sec - 1;
    if (status >= 200 && status < 300) {
        series_add(&g->ok_sched, from_sched);
        series_add(&g->ok_sent, from_sent);
        if (done_ns - c->sched_ns <= g->deadline_ns)
            g->ok_within_deadline++;
        g->tl_ok[sec]++;
        if (from_sched > g->tl_ok_max[sec])
            g->tl_ok_max[sec] = from_sched;
    } else if (status == 503) {
        series_add(&g->refused_sched, from_sched);
        series_add(&g->refused_sent, from_sent);
        g->tl_refused[sec]++;
    } else {
        series_add(&g->other_sent, from_sent);
        g->tl_other[sec]++;
    }
}

/* A complete response in c->in: its length, or 0 while incomplete. */
static size_t response_complete(conn *c, int *status, int *close_after)
{
    c->in[c->in_len] = 0;
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end)
        return 0;
    size_t head = (size_t)(end + 4 - c->in), body = 0;
    *end = 0;
    const char *cl = strcasestr(c->in, "\r\nContent-Length:");
    if (cl)
        body = strtoul(cl + 17, NULL, 10);
    *close_after = strcasestr(c->in, "\r\nConnection: close") != NULL || strncmp(c->in, "HTTP/1.0", 8) == 0;
    *end = '\r';
    if (c->in_len < head + body)
        return 0;
    if (sscanf(c->in, "HTTP/1.%*d %d", status) != 1)
        *status = 0;
    return head + body;
}

/* Returns 1 when the connection became idle. */
static int conn_read(gen *g, int i)
{
    conn *c = &g->conns[i];
    for (;;) {
        if (c->in_cap - c->in_len < 4096)
            c->in = xrealloc(c->in, c->in_cap = c->in_cap ? c->in_cap * 2 : 16384);
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            g->errors++;
            conn_close(g, i);
            return 0;
        }
        c->in_len += (size_t)n;
        int status = 0, close_after = 0;
        size_t len = response_complete(c, &status, &close_after);
        if (len) {
            record(g, c, status, now_ns());
            if (close_after || len != c->in_len) {
                conn_close(g, i);
                return 0;
            }
            c->in_len = 0;
            c->st = C_IDLE;
            return 1;
        }
    }
}

/* ---- main ------------------------------------------------------------------ */

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: cdx_loadgen --target HOST:PORT --path P [--method M] [--bodies FILE] [--header 'K: V']...\n"
            "                   (--rate R [--max-connections M] | --connections N)\n"
            "                   [--duration S] [--warmup S] [--drain S] [--deadline-ms D]\n"
            "Open loop with --rate (requests/s on a fixed schedule, latency from the schedule), closed loop\n"
            "with --connections. Prints one JSON object on stdout.\n");
    return rc;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        buf = xrealloc(buf, cap += 1 << 16);
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"target", required_argument, NULL, 't'},   {"path", required_argument, NULL, 'p'},
        {"method", required_argument, NULL, 'm'},   {"bodies", required_argument, NULL, 'b'},
        {"header", required_argument, NULL, 'H'},   {"rate", required_argument, NULL, 'r'},
        {"connections", required_argument, NULL, 'c'}, {"max-connections", required_argument, NULL, 'M'},
        {"duration", required_argument, NULL, 'd'}, {"warmup", required_argument, NULL, 'w'},
        {"drain", required_argument, NULL, 'D'},    {"deadline-ms", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *target = NULL, *path = NULL, *method = NULL, *bodies = NULL;
    char headers[4096] = "";
    double rate = 0, duration = 10, warmup = 1, drain = 5, deadline_ms = 1000;
    int connections = 0, max_conns = 1000, ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 't': target = optarg; break;
        case 'p': path = optarg; break;
        case 'm': method = optarg; break;
        case 'b': bodies = optarg; break;
        case 'H':
            if (strlen(headers) + strlen(optarg) + 3 >= sizeof headers)
                die("too many headers");
            strcat(headers, optarg);
            strcat(headers, "\r\n");
            break;
        case 'r': rate = atof(optarg); break;
        case 'c': connections = atoi(optarg); break;
        case 'M': max_conns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'D': drain = atof(optarg); break;
        case 'l': deadline_ms = atof(optarg); break;
        case 'h': return usage(0);
        default: return usage(2);
        }
    }
    if (!target || !path || (rate <= 0 && connections <= 0) || duration <= warmup || max_conns < 1 || optind < argc)
        return usage(2);
    gen g = {0};
    const char *colon = strrchr(target, ':');
    char host[64];
    if (!colon || (size_t)(colon - target) >= sizeof host)
        die("--target: expected HOST:PORT");
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = 0;
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &g.addr.sin_addr) != 1)
        die("--target: HOST must be an IPv4 address");
    if (!method)
        method = bodies ? "POST" : "GET";

    /* Requests, prebuilt: one per body line (or one without a body). */
    size_t blen = 0;
    char *text = bodies ? slurp(bodies, &blen) : NULL;
    if (bodies && !text)
        die("--bodies: cannot read the file");
    char *line = text, *save = NULL;
    for (char *tok = text ? strtok_r(line, "\n", &save) : NULL; text ? tok != NULL : g.n_reqs == 0;
         tok = text ? strtok_r(NULL, "\n", &save) : NULL) {
        size_t n = tok ? strlen(tok) : 0;
        char *req = malloc(n + strlen(headers) + strlen(path) + 256);
        if (!req)
            die("out of memory");
        int h = sprintf(req, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%sContent-Length: %zu\r\n\r\n", method, path, target,
                        tok ? "Content-Type: application/json\r\n" : "", headers, n);
        memcpy(req + h, tok ? tok : "", n);
        g.reqs = xrealloc(g.reqs, (size_t)(g.n_reqs + 1) * sizeof *g.reqs);
        g.req_lens = xrealloc(g.req_lens, (size_t)(g.n_reqs + 1) * sizeof *g.req_lens);
        g.reqs[g.n_reqs] = req;
        g.req_lens[g.n_reqs++] = (size_t)h + n;
        if (!text)
            break;
    }
    free(text);
    if (g.n_reqs == 0)
        die("--bodies: the file has no lines");

    if (rate <= 0)
        max_conns = connections;
    g.max_conns = max_conns;
    g.conns = calloc((size_t)max_conns, sizeof *g.conns);
    g.idle = calloc((size_t)max_conns, sizeof *g.idle);
    if (!g.conns || !g.idle)
        die("out of memory");
    for (int i = 0; i < max_conns; i++)
        g.conns[i].fd = -1;
    g.ep = epoll_create1(0);
    g.deadline_ns = (int64_t)(deadline_ms * 1e6);
    g.t0 = now_ns();
    g.win_start = g.t0 + (int64_t)(warmup * 1e9);
    g.win_end = g.t0 + (int64_t)(duration * 1e9);
    g.n_sec = (int)(duration - warmup + drain) + 2;
    g.tl_ok = calloc((size_t)g.n_sec, sizeof *g.tl_ok);
    g.tl_refused = calloc((size_t)g.n_sec, sizeof *g.tl_refused);
    g.tl_other = calloc((size_t)g.n_sec, sizeof *g.tl_other);
    g.tl_ok_max = calloc((size_t)g.n_sec, sizeof *g.tl_ok_max);
    int64_t interval = rate > 0 ? (int64_t)(1e9 / rate) : 0, next = g.t0;
    int64_t stop = g.win_end + (int64_t)(drain * 1e9);
    uint64_t scheduled = 0, never_sent = 0;
    struct epoll_event evs[256];
    for (;;) {
        int64_t t = now_ns();
        if (t >= stop)
            break;
        if (rate > 0) {
            for (; next <= t && next < g.win_end; next += interval) {
                if (g.pend_n == g.pend_cap) {
                    size_t nc = g.pend_cap ? g.pend_cap * 2 : 4096;
                    int64_t *np = malloc(nc * sizeof *np);
                    if (!np)
                        die("out of memory");
                    for (size_t k = 0; k < g.pend_n; k++)
                        np[k] = g.pend[(g.pend_head + k) % g.pend_cap];
                    free(g.pend);
                    g.pend = np;
                    g.pend_head = 0;
                    g.pend_cap = nc;
                }
                g.pend[(g.pend_head + g.pend_n++) % g.pend_cap] = next;
                scheduled++;
            }
            /* Hand scheduled requests to idle connections, then to new ones. */
            while (g.pend_n > 0) {
                int i = -1;
                if (g.n_idle > 0)
                    i = g.idle[--g.n_idle];
                else
                    for (int k = 0; k < max_conns; k++)
                        if (g.conns[k].st == C_CLOSED) {
                            i = k;
                            break;
                        }
                if (i < 0)
                    break;
                int64_t s = g.pend[g.pend_head];
                g.pend_head = (g.pend_head + 1) % g.pend_cap;
                g.pend_n--;
                conn_start(&g, i, s);
            }
        } else if (t < g.win_end) {
            for (int k = 0; k < connections; k++)
                if (g.conns[k].st == C_CLOSED) /* the server closed it: reconnect */
                    conn_start(&g, k, now_ns());
            while (g.n_idle > 0) {
                int i = g.idle[--g.n_idle];
                conn_start(&g, i, now_ns());
            }
        } else if (g.answered + g.errors >= g.sent) {
            break; /* closed loop: everything answered after the end */
        }
        if (rate > 0 && t >= g.win_end && g.pend_n == 0 && g.answered + g.errors >= g.sent)
            break;
        int timeout = 1;
        if (rate <= 0)
            timeout = 50;
        int n = epoll_wait(g.ep, evs, 256, timeout);
        for (int k = 0; k < n; k++) {
            int i = (int)evs[k].data.u32;
            conn *c = &g.conns[i];
            if (c->st == C_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) {
                    g.errors++;
                    conn_close(&g, i);
                    continue;
                }
                c->st = C_WRITING;
                conn_write(&g, i);
            } else if (c->st == C_WRITING) {
                conn_write(&g, i);
            } else if (c->st == C_READING) {
                if (conn_read(&g, i))
                    g.idle[g.n_idle++] = i;
            } else if (c->st == C_IDLE) {
                /* the server closed an idle keep-alive connection */
                char b;
                if (read(c->fd, &b, 1) <= 0) {
                    for (int q = 0; q < g.n_idle; q++)
                        if (g.idle[q] == i) {
                            g.idle[q] = g.idle[--g.n_idle];
                            break;
                        }
                    conn_close(&g, i);
                }
            }
        }
    }
    never_sent = g.pend_n;
    uint64_t unanswered = g.sent - g.answered - g.errors;
    double window = duration - warmup;

    FILE *f = stdout;
    fprintf(f, "{\"mode\": \"%s\", \"rate\": %.1f, \"connections\": %d, \"duration_s\": %.1f, \"window_s\": %.1f,\n",
            rate > 0 ? "open" : "closed", rate, rate > 0 ? max_conns : connections, duration, window);
    fprintf(f, " \"scheduled\": %llu, \"sent\": %llu, \"answered\": %llu, \"errors\": %llu, \"unanswered\": %llu, "
               "\"never_sent\": %llu, \"in_window\": %llu,\n",
            (unsigned long long)scheduled, (unsigned long long)g.sent, (unsigned long long)g.answered,
            (unsigned long long)g.errors, (unsigned long long)unanswered, (unsigned long long)never_sent,
            (unsigned long long)g.in_window);
    fprintf(f, " \"status\": {");
    int first = 1;
    for (int s = 0; s < 600; s++)
        if (g.by_status[s]) {
            fprintf(f, "%s\"%d\": %llu", first ? "" : ", ", s, (unsigned long long)g.by_status[s]);
            first = 0;
        }
    fprintf(f, "},\n \"ok_per_s\": %.1f, \"ok_within_deadline_per_s\": %.1f, \"deadline_ms\": %.0f,\n",
            (double)g.ok_sched.n / window, (double)g.ok_within_deadline / window, deadline_ms);
    fprintf(f, " \"latency_ms\": {");
    print_series(f, "ok_from_schedule", &g.ok_sched);
    fprintf(f, ",\n   ");
    print_series(f, "ok_from_send", &g.ok_sent);
    fprintf(f, ",\n   ");
    print_series(f, "refused_from_schedule", &g.refused_sched);
    fprintf(f, ",\n   ");
    print_series(f, "refused_from_send", &g.refused_sent);
    fprintf(f, ",\n   ");
    print_series(f, "other_from_send", &g.other_sent);
    fprintf(f, ",\n   ");
    print_series(f, "send_lag", &g.lag);
    fprintf(f, "},\n \"timeline\": [");
    for (int s = 0; s < g.n_sec; s++)
        fprintf(f, "%s{\"s\": %d, \"ok\": %llu, \"refused\": %llu, \"other\": %llu, \"ok_max_ms\": %.1f}",
                s ? ",\n   " : "", s, (unsigned long long)g.tl_ok[s], (unsigned long long)g.tl_refused[s],
                (unsigned long long)g.tl_other[s], g.tl_ok_max[s]);
    fprintf(f, "]}\n");
    return 0;
}
