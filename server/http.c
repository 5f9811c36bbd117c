/* The HTTP front (server.h): one libevent loop thread that accepts, reads,
 * routes through the table in routes.c, admits work onto the lanes'
 * queues, and writes every answer. Workers never touch libevent objects: a
 * finished job is put on the done list and the loop is woken to answer it.
 *
 * Connections are counted in the accept path: evhttp asks us for each new
 * connection's bufferevent (evhttp_set_bevcb) — that is the count — and
 * accepting pauses while the count is at the cap, so excess connections wait
 * in the kernel's backlog instead of costing memory here. The matching
 * decrement comes from the connection's close callback, which is attached
 * right after evhttp has set the connection up (a high-priority event that
 * runs before any of its I/O). */
#include "server/internal.h"

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/util.h"
#include "encoder/encoder.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

cdx_server_params cdx_server_default_params(void)
{
    return (cdx_server_params){
        .listen = "127.0.0.1:8080",
        .max_connections = 256,
        .max_header_bytes = 16 * 1024,
        .max_body_bytes = 32 * 1024 * 1024,
        .max_query_body_bytes = 8 * 1024 * 1024,
        .read_timeout_ms = 15000,
        .write_timeout_ms = 15000,
        .interactive_capacity = 64,
        .interactive_workers = 2,
        .batch_capacity = 16,
        .batch_workers = 1,
        .io_capacity = 64,
        .io_workers = 1,
        .interactive_deadline_ms = 1000,
        .batch_deadline_ms = 30000,
        .io_deadline_ms = 5000,
        .encoder_slots = 1,
        .batch_chunk = 8,
        .k_max = 1000,
        .max_inputs = 256,
        .thumb_size = 256,
        .batch_nice = 10,
    };
}

int cdx_server_port(const cdx_server *s) { return s->port; }

/* ---- answers ---------------------------------------------------------- */

void cdx_job_reply(cdx_job *job, int status, const char *content_type, char *body, size_t len)
{
    if (job->resp && !job->resp_static)
        free(job->resp);
    job->status = status;
    job->content_type = content_type;
    job->resp = body;
    job->resp_len = len;
    job->resp_static = 0;
}

void cdx_job_reply_static(cdx_job *job, int status, const char *content_type, const void *body, size_t len)
{
    cdx_job_reply(job, status, content_type, NULL, 0);
    job->resp = (char *)body;
    job->resp_len = len;
    job->resp_static = 1;
}

void cdx_job_json(cdx_job *job, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        cdx_job_reply_static(job, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    cdx_job_reply(job, status, "application/json", text, strlen(text));
}

void cdx_job_error(cdx_job *job, int status, const char *code, const char *fmt, ...)
{
    char msg[CDX_ERRMSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cdx_job_json(job, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

void cdx_job_error_from(cdx_job *job, int err, const char *msg)
{
    static const struct {
        int err, status;
        const char *code;
    } map[] = {
        {CDX_ERR_INVAL, 400, "invalid_request"},   {CDX_ERR_PARSE, 400, "malformed"},
        {CDX_ERR_NOTFOUND, 404, "not_found"},      {CDX_ERR_TOOBIG, 413, "too_large"},
        {CDX_ERR_DECODE, 422, "image_decode_failed"}, {CDX_ERR_UNSUPPORTED, 415, "unsupported"},
        {CDX_ERR_MISMATCH, 422, "mismatch"},       {CDX_ERR_FULL, 503, "overloaded"},
        {CDX_ERR_TIMEOUT, 503, "deadline_exceeded"}, {CDX_ERR_AGAIN, 503, "overloaded"},
        {CDX_ERR_CLOSED, 503, "shutting_down"},    {CDX_ERR_EXISTS, 409, "exists"},
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(map); i++) {
        if (map[i].err == err) {
            cdx_job_error(job, map[i].status, map[i].code, "%s", msg);
            if (map[i].status == 503)
                job->retry_after_s = 1;
            return;
        }
    }
    cdx_job_error(job, 500, "internal", "%s", msg);
}

/* ---- the encoder gate ------------------------------------------------- */

int64_t cdx_server_encoder_enter(cdx_server *s, enum cdx_gate_class c)
{
    int64_t waited = cdx_gate_enter(s->gate, c);
    if (s->p.fault_encode_delay_ms > 0) {
        struct timespec ts = {s->p.fault_encode_delay_ms / 1000, (long)(s->p.fault_encode_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return waited;
}

void cdx_server_encoder_leave(cdx_server *s, enum cdx_gate_class c) { cdx_gate_leave(s->gate, c); }

/* ---- sending ---------------------------------------------------------- */

static void free_body_ref(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

static void job_free(cdx_job *job)
{
    if (!job)
        return;
    free(job->body);
    free(job->query);
    if (!job->resp_static)
        free(job->resp);
    free(job);
}

/* Loop thread: writes the answer, records metrics, frees the job. */
static void job_send(cdx_job *job)
{
    cdx_server *s = job->srv;
    struct evhttp_request *req = job->req;
    if (job->status == 0)
        cdx_job_error(job, 500, "internal", "the handler gave no answer");
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (job->content_type)
        evhttp_add_header(h, "Content-Type", job->content_type);
    if (job->retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)job->retry_after_s);
        evhttp_add_header(h, "Retry-After", ra);
    }
    if (job->cache_control)
        evhttp_add_header(h, "Cache-Control", job->cache_control);
    if (job->allow[0])
        evhttp_add_header(h, "Allow", job->allow);
    if (job->status == 401)
        evhttp_add_header(h, "WWW-Authenticate", "Bearer");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    if (job->resp_len > 0) {
        if (job->resp_static)
            evbuffer_add_reference(out, job->resp, job->resp_len, NULL, NULL);
        else if (evbuffer_add_reference(out, job->resp, job->resp_len, free_body_ref, NULL) == 0)
            job->resp = NULL; /* the buffer owns it now */
    }
    cdx_metrics_record(s, job, cdx_clock_ns());
    evhttp_send_reply(req, job->status, NULL, NULL);
    job_free(job);
}

/* Any thread: hands a finished job to the loop thread. */
static void job_done(cdx_job *job)
{
    cdx_server *s = job->srv;
    pthread_mutex_lock(&s->done_mu);
    job->next = NULL;
    if (s->done_tail)
        s->done_tail->next = job;
    else
        s->done_head = job;
    s->done_tail = job;
    pthread_mutex_unlock(&s->done_mu);
    event_active(s->done_ev, EV_READ, 0);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cdx_server *s = arg;
    pthread_mutex_lock(&s->done_mu);
    cdx_job *j = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->done_mu);
    while (j) {
        cdx_job *next = j->next;
        job_send(j);
        j = next;
    }
}

/* ---- lanes ------------------------------------------------------------ */

static void lane_run(void *ctx, void *item, int64_t queued_ns)
{
    (void)ctx;
    cdx_job *job = item;
    job->queued_ns = queued_ns;
    job->t_start_ns = cdx_clock_ns();
    job->route->handler(job);
    job_done(job);
}

static void lane_drop(void *ctx, void *item, enum cdx_admission_drop why, int64_t queued_ns)
{
    (void)ctx;
    cdx_job *job = item;
    job->queued_ns = queued_ns;
    job->t_start_ns = cdx_clock_ns();
    if (why == CDX_ADMISSION_DROP_EXPIRED) {
        __atomic_fetch_add(&job->srv->rm[job->route_index].expired, 1, __ATOMIC_RELAXED);
        cdx_job_error(job, 503, "deadline_exceeded",
                      "the request's deadline passed after %.0f ms in the %s queue; it was not run",
                      cdx_ns_to_ms(queued_ns), cdx_admission_name(job->srv->lanes[job->route->lane]));
    } else {
        cdx_job_error(job, 503, "shutting_down", "the server is shutting down");
    }
    job->retry_after_s = 1;
    job_done(job);
}

/* ---- connections ------------------------------------------------------ */

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    cdx_server *s = arg;
    s->conns_open--;
    if (s->listener && s->accept_paused && s->conns_open < s->p.max_connections) {
        evconnlistener_enable(s->listener);
        s->accept_paused = 0;
    }
}

/* Called by evhttp for each accepted connection: the accept-path count. */
static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
    cdx_server *s = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL; /* evhttp makes its own and we do not count it; only under OOM */
    if (s->n_fresh == s->cap_fresh) {
        size_t cap = s->cap_fresh ? s->cap_fresh * 2 : 16;
        struct bufferevent **f = realloc(s->fresh, cap * sizeof *f);
        if (!f)
            return bev;
        s->fresh = f;
        s->cap_fresh = cap;
    }
    s->fresh[s->n_fresh++] = bev;
    s->conns_open++;
    s->conns_total++;
    event_active(s->fresh_ev, EV_READ, 0);
    if (s->conns_open >= s->p.max_connections && !s->accept_paused) {
        evconnlistener_disable(s->listener);
        s->accept_paused = 1;
        s->accept_pauses++;
        cdx_log_warn("http", "connection cap reached (%d open): accepting paused", s->p.max_connections);
    }
    return bev;
}

/* Runs (at high priority) after evhttp has built the connections counted in
 * on_new_bev, before any of their I/O: attaches the close callback and the
 * separate read and write timeouts. */
static void on_fresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cdx_server *s = arg;
    struct timeval rt = {s->p.read_timeout_ms / 1000, (s->p.read_timeout_ms % 1000) * 1000};
    struct timeval wt = {s->p.write_timeout_ms / 1000, (s->p.write_timeout_ms % 1000) * 1000};
    for (size_t i = 0; i < s->n_fresh; i++) {
        struct bufferevent *bev = s->fresh[i];
        void *cbarg = NULL;
        bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
        struct evhttp_connection *evcon = cbarg;
        if (!evcon || evhttp_connection_get_bufferevent(evcon) != bev) {
            /* Not evhttp's layout: count it gone rather than leak the slot. */
            cdx_log_error("http", "cannot track a new connection; the connection count may be off");
            s->conns_open--;
            continue;
        }
        evhttp_connection_set_closecb(evcon, on_conn_close, s);
        bufferevent_set_timeouts(bev, &rt, &wt);
    }
    s->n_fresh = 0;
}

/* ---- routing ---------------------------------------------------------- */

/* Matches path against pattern; "{id}" takes one non-empty segment. */
static int path_match(const char *pattern, const char *path, char *arg, size_t arg_cap)
{
    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= arg_cap)
                return 0;
            memcpy(arg, path, n);
            arg[n] = 0;
            path += n;
            pattern += 4;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return *pattern == 0 && *path == 0;
}

static int method_of(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD: return CDX_GET;
    case EVHTTP_REQ_POST: return CDX_POST;
    case EVHTTP_REQ_DELETE: return CDX_DELETE;
    default: return 0;
    }
}

static const char *method_name(enum evhttp_cmd_type t)
{
    static const struct {
        enum evhttp_cmd_type t;
        const char *name;
    } names[] = {{EVHTTP_REQ_GET, "GET"},         {EVHTTP_REQ_POST, "POST"},   {EVHTTP_REQ_HEAD, "HEAD"},
                 {EVHTTP_REQ_PUT, "PUT"},         {EVHTTP_REQ_DELETE, "DELETE"}, {EVHTTP_REQ_OPTIONS, "OPTIONS"},
                 {EVHTTP_REQ_PATCH, "PATCH"}};
    for (size_t i = 0; i < CDX_ARRAY_LEN(names); i++)
        if (names[i].t == t)
            return names[i].name;
    return "this method";
}

static int header_is(const char *value, const char *type)
{
    size_t n = strlen(type);
    return value && strncasecmp(value, type, n) == 0 && (value[n] == 0 || value[n] == ';' || value[n] == ' ');
}

/* Bearer token check in constant time: both sides are hashed first so the
 * comparison does not leak the token's length either. */
static int token_ok(const cdx_server *s, const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    const char *t = auth + 7;
    while (*t == ' ')
        t++;
    uint8_t d[32];
    cdx_sha256_bytes(t, strlen(t), d);
    return cdx_ct_equal(d, s->token_digest, sizeof d);
}

/* Answers on the loop thread a request that never became queued work. */
static void answer_now(cdx_job *job) { job_send(job); }

static void on_request(struct evhttp_request *req, void *arg)
{
    cdx_server *s = arg;
    int64_t now = cdx_clock_ns();
    cdx_job *job = calloc(1, sizeof *job);
    if (!job) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    job->srv = s;
    job->req = req;
    job->t_arrive_ns = now;
    job->route_index = cdx_route_count; /* unmatched until a route matches */

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    int method = method_of(evhttp_request_get_command(req));

    const cdx_route *r = NULL;
    char *allow = job->allow;
    for (int i = 0; i < cdx_route_count; i++) {
        char a[sizeof job->path_arg] = "";
        if (!path_match(cdx_routes[i].path, path, a, sizeof a))
            continue;
        if (cdx_routes[i].method == method) {
            r = &cdx_routes[i];
            job->route_index = i;
            memcpy(job->path_arg, a, sizeof a);
            break;
        }
        const char *m = cdx_routes[i].method == CDX_GET ? "GET, HEAD" : cdx_routes[i].method == CDX_POST ? "POST" : "DELETE";
        size_t used = strlen(allow);
        snprintf(allow + used, sizeof job->allow - used, "%s%s", used ? ", " : "", m);
    }
    if (!r) {
        if (allow[0]) {
            cdx_job_error(job, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                          method_name(evhttp_request_get_command(req)), path, allow);
        } else {
            cdx_job_error(job, 404, "no_route", "no route for %s", path);
        }
        answer_now(job);
        return;
    }
    job->route = r;
    __atomic_fetch_add(&s->rm[job->route_index].in_flight, 1, __ATOMIC_RELAXED);

    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    size_t head_bytes = strlen(evhttp_request_get_uri(req)) + 16;
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next)
        head_bytes += strlen(kv->key) + strlen(kv->value) + 4;
    if (head_bytes > (size_t)s->p.max_header_bytes) {
        cdx_job_error(job, 413, "headers_too_large", "the request line and headers are %zu bytes; at most %d are accepted",
                      head_bytes, s->p.max_header_bytes);
        answer_now(job);
        return;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t body_len = evbuffer_get_length(body);
    int64_t limit = r->body == 2 ? s->p.max_body_bytes : r->body == 1 ? s->p.max_query_body_bytes : 0;
    if (body_len > (size_t)limit && (r->body || body_len > 0)) {
        if (r->body)
            cdx_job_error(job, 413, "body_too_large", "the body is %zu bytes; %s takes at most %lld", body_len, path,
                          (long long)limit);
        else
            cdx_job_error(job, 400, "unexpected_body", "%s takes no request body", path);
        answer_now(job);
        return;
    }
    if (r->auth) {
        if (!s->has_token) {
            cdx_job_error(job, 403, "writes_disabled",
                          "this server has no token configured (--token-file), so %s is disabled", path);
            answer_now(job);
            return;
        }
        if (!token_ok(s, evhttp_find_header(in, "Authorization"))) {
            cdx_job_error(job, 401, "unauthorized", "%s needs 'Authorization: Bearer <token>'", path);
            answer_now(job);
            return;
        }
    }
    if (r->body) {
        const char *ct = evhttp_find_header(in, "Content-Type");
        if (header_is(ct, "application/x-protobuf") && (r->formats & CDX_FMT_PB)) {
            job->body_pb = job->answer_pb = 1;
        } else if (ct && !header_is(ct, "application/json")) {
            cdx_job_error(job, 415, "unsupported_media_type", "Content-Type %.64s is not accepted on %s (use %s)", ct,
                          path, (r->formats & CDX_FMT_PB) ? "application/json or application/x-protobuf" : "application/json");
            answer_now(job);
            return;
        }
    }
    const char *accept = evhttp_find_header(in, "Accept");
    if ((r->formats & CDX_FMT_PB) && accept && strstr(accept, "application/x-protobuf") && !strstr(accept, "json"))
        job->answer_pb = 1;

    int32_t deadline_ms = s->lane_deadline_ms[r->lane];
    const char *dh = evhttp_find_header(in, "X-Deadline-Ms");
    if (dh) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(dh, &end, 10);
        if (errno || end == dh || *end || v <= 0) {
            cdx_job_error(job, 400, "bad_deadline", "X-Deadline-Ms: expected a positive integer of milliseconds, got '%.32s'",
                          dh);
            answer_now(job);
            return;
        }
        if (v < deadline_ms) /* a client may lower its deadline, never raise it */
            deadline_ms = (int32_t)v;
    }
    job->deadline_ns = now + (int64_t)deadline_ms * 1000000;

    if (q && !(job->query = strdup(q))) {
        cdx_job_error(job, 500, "internal", "out of memory");
        answer_now(job);
        return;
    }
    if (body_len > 0) {
        job->body = malloc(body_len + 1);
        if (!job->body) {
            cdx_job_error(job, 500, "internal", "out of memory");
            answer_now(job);
            return;
        }
        evbuffer_remove(body, job->body, body_len);
        job->body[body_len] = 0;
        job->body_len = body_len;
    }

    if (r->lane == CDX_LANE_INLINE) {
        job->t_start_ns = cdx_clock_ns();
        r->handler(job);
        answer_now(job);
        return;
    }
    enum cdx_admission_refusal why;
    int64_t retry_ms = 0;
    int rc = cdx_admission_submit(s->lanes[r->lane], job, job->deadline_ns, &why, &retry_ms);
    if (rc == CDX_OK)
        return;
    __atomic_fetch_add(&s->rm[job->route_index].refused[why], 1, __ATOMIC_RELAXED);
    if (why == CDX_ADMISSION_REFUSED_CLOSED)
        cdx_job_error(job, 503, "shutting_down", "the server is shutting down");
    else if (why == CDX_ADMISSION_REFUSED_FULL)
        cdx_job_error(job, 503, "overloaded", "the %s queue is full; retry later",
                      cdx_admission_name(s->lanes[r->lane]));
    else
        cdx_job_error(job, 503, "overloaded",
                      "the %s queue cannot finish this request within its %d ms deadline (estimated wait %lld ms); "
                      "retry later",
                      cdx_admission_name(s->lanes[r->lane]), deadline_ms, (long long)retry_ms);
    job->retry_after_s = retry_ms <= 1000 ? 1 : (retry_ms + 999) / 1000;
    answer_now(job);
}

/* ---- lifecycle -------------------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    cdx_server *s = arg;
    cdx_log_info("http", "signal %d: stopping", (int)sig);
    event_base_loopbreak(s->base);
}

void cdx_server_stop(cdx_server *s) { event_base_loopbreak(s->base); }

static int open_listener(cdx_server *s, cdx_errbuf *eb)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    /* libevent's parser refuses port 0; "pick a free port" is parsed as port 1, then cleared. */
    char addr[128];
    size_t n = strlen(s->p.listen);
    int any_port = n >= 2 && strcmp(s->p.listen + n - 2, ":0") == 0 && n < sizeof addr;
    snprintf(addr, sizeof addr, "%.*s%s", (int)(any_port ? n - 1 : n), s->p.listen, any_port ? "1" : "");
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &len) == 0 && any_port) {
        if (ss.ss_family == AF_INET6)
            ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
        else
            ((struct sockaddr_in *)&ss)->sin_port = 0;
    } else if (n >= sizeof addr || evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &len) != 0)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "--listen %s: expected HOST:PORT with a numeric address, e.g. 127.0.0.1:8080",
                              s->p.listen);
    s->listener = evconnlistener_new_bind(s->base, NULL, NULL,
                                          LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024,
                                          (struct sockaddr *)&ss, len);
    if (!s->listener)
        return cdx_errbuf_set(eb, CDX_ERR_IO, "cannot listen on %s: %s", s->p.listen, strerror(errno));
    if (!evhttp_bind_listener(s->http, s->listener)) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
        return cdx_errbuf_set(eb, CDX_ERR_IO, "cannot serve HTTP on %s", s->p.listen);
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&bound, &bl) == 0)
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    return CDX_OK;
}

static int check_params(const cdx_server_params *p, cdx_errbuf *eb)
{
    if (p->max_connections < 1 || p->max_header_bytes < 256 || p->max_body_bytes < 1024 ||
        p->max_query_body_bytes < 1024 || p->read_timeout_ms < 1 || p->write_timeout_ms < 1 ||
        p->interactive_deadline_ms < 1 || p->batch_deadline_ms < 1 || p->io_deadline_ms < 1 || p->encoder_slots < 1 ||
        p->batch_chunk < 1 || p->batch_nice < 0 || p->batch_nice > 19 || p->k_max < 1 || p->max_inputs < 1 || p->thumb_size < 16 || p->thumb_size > 2048)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL,
                              "server parameters out of range (limits, timeouts and deadlines must be positive, "
                              "thumbnail size 16..2048)");
    return CDX_OK;
}

int cdx_server_open(const cdx_server_params *p, cdx_encoder *encoder, const cdx_server_catalog *catalog,
                    cdx_server **out, cdx_errbuf *eb)
{
    *out = NULL;
    int rc = check_params(p, eb);
    if (rc != CDX_OK)
        return rc;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, (void (*)(void))evthread_use_pthreads);
    signal(SIGPIPE, SIG_IGN);

    cdx_server *s = calloc(1, sizeof *s);
    if (!s)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "server: out of memory");
    s->p = *p;
    s->p.token = NULL; /* kept only as a digest */
    s->enc = encoder;
    if (catalog) {
        s->cat = *catalog;
        s->has_catalog = 1;
    }
    s->started_ms = cdx_clock_wall_ms();
    pthread_mutex_init(&s->done_mu, NULL);
    if (p->token) {
        cdx_sha256_bytes(p->token, strlen(p->token), s->token_digest);
        s->has_token = 1;
    }
    s->lane_deadline_ms[CDX_LANE_INLINE] = p->io_deadline_ms;
    s->lane_deadline_ms[CDX_LANE_INTERACTIVE] = p->interactive_deadline_ms;
    s->lane_deadline_ms[CDX_LANE_BATCH] = p->batch_deadline_ms;
    s->lane_deadline_ms[CDX_LANE_IO] = p->io_deadline_ms;

    if (cdx_metrics_init(s) != CDX_OK || cdx_gate_init(p->encoder_slots, p->encoder_slots > 1 ? 1 : 0, &s->gate) != CDX_OK) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "server: out of memory");
        goto fail;
    }
    struct event_config *cfg = event_config_new();
    s->base = cfg ? event_base_new_with_config(cfg) : NULL;
    event_config_free(cfg);
    if (!s->base || event_base_priority_init(s->base, 2) != 0 || !(s->http = evhttp_new(s->base))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_INTERNAL, "server: cannot create the event loop");
        goto fail;
    }
    /* libevent 2.1 answers an over-long header block with a bare 400; it gets
     * a hard cap of four times ours (bounding memory per connection), and
     * our own check gives the 413 with a reason below that. */
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)p->max_header_bytes * 4);
    evhttp_set_max_body_size(s->http, p->max_body_bytes);
    struct timeval rt = {p->read_timeout_ms / 1000, (p->read_timeout_ms % 1000) * 1000};
    evhttp_set_timeout_tv(s->http, &rt);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s->http, on_request, s);
    evhttp_set_bevcb(s->http, on_new_bev, s);
    s->done_ev = event_new(s->base, -1, 0, on_done, s);
    s->fresh_ev = event_new(s->base, -1, 0, on_fresh, s);
    if (!s->done_ev || !s->fresh_ev || event_priority_set(s->fresh_ev, 0) != 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_INTERNAL, "server: cannot create events");
        goto fail;
    }
    if (p->handle_signals) {
        s->sig_int = evsignal_new(s->base, SIGINT, on_signal, s);
        s->sig_term = evsignal_new(s->base, SIGTERM, on_signal, s);
        if (!s->sig_int || !s->sig_term || evsignal_add(s->sig_int, NULL) || evsignal_add(s->sig_term, NULL)) {
            rc = cdx_errbuf_set(eb, CDX_ERR_INTERNAL, "server: cannot install signal handlers");
            goto fail;
        }
    }
    if ((rc = open_listener(s, eb)) != CDX_OK)
        goto fail;

    static const struct {
        enum cdx_lane lane;
        const char *name;
    } lanes[] = {{CDX_LANE_INTERACTIVE, "interactive"}, {CDX_LANE_BATCH, "batch"}, {CDX_LANE_IO, "io"}};
    for (size_t i = 0; i < CDX_ARRAY_LEN(lanes); i++) {
        cdx_admission_params ap = cdx_admission_default_params();
        ap.name = lanes[i].name;
        ap.capacity = lanes[i].lane == CDX_LANE_INTERACTIVE ? p->interactive_capacity
                      : lanes[i].lane == CDX_LANE_BATCH   ? p->batch_capacity
                                                          : p->io_capacity;
        ap.workers = lanes[i].lane == CDX_LANE_INTERACTIVE ? p->interactive_workers
                     : lanes[i].lane == CDX_LANE_BATCH   ? p->batch_workers
                                                         : p->io_workers;
        ap.nice = lanes[i].lane == CDX_LANE_BATCH ? p->batch_nice : 0;
        if ((rc = cdx_admission_open(&ap, lane_run, lane_drop, s, &s->lanes[lanes[i].lane], eb)) != CDX_OK)
            goto fail;
    }
    cdx_log_info("http", "listening on http://%s:%d/ (token %s; %d connections at most; queues: interactive %d/%d workers, "
                 "batch %d/%d, io %d/%d; deadlines %d/%d/%d ms; encoder slots %d%s)",
                 p->listen[0] == '[' ? p->listen : "127.0.0.1", s->port, s->has_token ? "set" : "not set",
                 p->max_connections, p->interactive_capacity, p->interactive_workers, p->batch_capacity,
                 p->batch_workers, p->io_capacity, p->io_workers, p->interactive_deadline_ms, p->batch_deadline_ms,
                 p->io_deadline_ms, p->encoder_slots, p->encoder_slots > 1 ? ", 1 kept for interactive" : "");
    *out = s;
    return CDX_OK;
fail:
    cdx_server_close(s);
    return rc;
}

int cdx_server_run(cdx_server *s)
{
    int rc = event_base_dispatch(s->base);
    /* Stop accepting; answer what is queued (503) and wait for running work. */
    if (s->listener)
        evconnlistener_disable(s->listener);
    for (int i = 0; i < CDX_LANE_COUNT; i++) {
        cdx_admission_close(s->lanes[i]);
        s->lanes[i] = NULL;
    }
    on_done(-1, 0, s);
    /* Let the answers go out (bounded: a client that does not read is dropped). */
    for (int i = 0; i < 50; i++)
        if (event_base_loop(s->base, EVLOOP_NONBLOCK) != 0)
            break;
    return rc < 0 ? CDX_ERR_INTERNAL : CDX_OK;
}

void cdx_server_close(cdx_server *s)
{
    if (!s)
        return;
    for (int i = 0; i < CDX_LANE_COUNT; i++)
        cdx_admission_close(s->lanes[i]);
    if (s->base)
        on_done(-1, 0, s);
    struct evconnlistener *l = s->listener;
    s->listener = NULL; /* closing connections must not re-enable it */
    if (s->http)
        evhttp_free(s->http); /* frees the bound listener and the connections */
    else if (l)
        evconnlistener_free(l);
    if (s->done_ev)
        event_free(s->done_ev);
    if (s->fresh_ev)
        event_free(s->fresh_ev);
    if (s->sig_int)
        event_free(s->sig_int);
    if (s->sig_term)
        event_free(s->sig_term);
    if (s->base)
        event_base_free(s->base);
    cdx_gate_free(s->gate);
    cdx_metrics_free(s);
    pthread_mutex_destroy(&s->done_mu);
    free(s->fresh);
    free(s);
}
