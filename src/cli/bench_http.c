/* The HTTP/1.1 client side of `infergate bench`: URL parsing, non-blocking connects, a small strict
 * response-head parser (status line, Content-Length, Connection; chunked is refused) and a blocking
 * fetch for the setup requests. A load client needs no more, and owning it keeps per-request cost
 * to a write and a read (see docs/bench-tool.md for why not libcurl). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/bench_int.h"

int ig__bench_target_parse(const char *url, ig__bench_target *t, ig_error *err)
{
    memset(t, 0, sizeof(*t));
    if (strncmp(url, "http://", 7))
        return ig_error_set(err, IG_EINVAL, "--url '%s': only http:// URLs are supported", url);
    const char *h = url + 7, *end = h + strcspn(h, "/");
    const char *colon = NULL;
    if (*h == '[') { /* [v6]:port */
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb) return ig_error_set(err, IG_EINVAL, "--url '%s': unterminated IPv6 address", url);
        if ((size_t)(rb - h - 1) >= sizeof(t->host))
            return ig_error_set(err, IG_EINVAL, "--url: host too long");
        memcpy(t->host, h + 1, (size_t)(rb - h - 1));
        if (rb + 1 < end && rb[1] == ':')
            colon = rb + 1;
        else if (rb + 1 != end)
            return ig_error_set(err, IG_EINVAL, "--url '%s': bad host", url);
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        const char *he = colon ? colon : end;
        if (he == h || (size_t)(he - h) >= sizeof(t->host))
            return ig_error_set(err, IG_EINVAL, "--url '%s': missing or too long host", url);
        memcpy(t->host, h, (size_t)(he - h));
    }
    if (colon) {
        size_t pl = (size_t)(end - colon - 1);
        if (pl == 0 || pl > 5 || strspn(colon + 1, "0123456789") < pl || atoi(colon + 1) < 1 ||
            atoi(colon + 1) > 65535)
            return ig_error_set(err, IG_EINVAL, "--url '%s': bad port", url);
        memcpy(t->port, colon + 1, pl);
    } else {
        strcpy(t->port, "80");
    }
    size_t plen = strlen(end);
    while (plen && end[plen - 1] == '/') plen--;
    if (plen >= sizeof(t->prefix)) return ig_error_set(err, IG_EINVAL, "--url: path too long");
    if (strpbrk(end, " \r\n?#")) return ig_error_set(err, IG_EINVAL, "--url '%s': bad path", url);
    memcpy(t->prefix, end, plen);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(t->host, t->port, &hints, &ai);
    if (rc) return ig_error_set(err, IG_ENOTFOUND, "cannot resolve '%s': %s", t->host, gai_strerror(rc));
    memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
    t->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int ig__bench_connect(const ig__bench_target *t, ig_error *err)
{
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return ig_error_set(err, IG_EIO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return ig_error_set(err, IG_EIO, "connect to %s:%s: %s", t->host, t->port, strerror(e));
    }
    return fd;
}

/* Case-insensitive compare of a header name of length n with a lower-case literal. */
static bool name_is(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && !strncasecmp(p, lit, n);
}

static bool value_has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++) {
        if (strncasecmp(v + i, tok, tl)) continue;
        bool left = i == 0 || v[i - 1] == ',' || v[i - 1] == ' ' || v[i - 1] == '\t';
        bool right = i + tl == n || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == '\t';
        if (left && right) return true;
    }
    return false;
}

int ig__bench_parse_response(const char *buf, size_t len, ig__bench_resp *r, ig_error *err)
{
    /* Find the end of the head first; a head is never parsed half-way. */
    const char *end = NULL;
    size_t scan = len < IG__BENCH_MAX_HEAD ? len : IG__BENCH_MAX_HEAD;
    for (size_t i = 3; i < scan; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            end = buf + i + 1;
            break;
        }
    if (!end) {
        if (len >= IG__BENCH_MAX_HEAD)
            return ig_error_set(err, IG_EFORMAT, "response head larger than %d bytes", IG__BENCH_MAX_HEAD);
        return 0;
    }
    memset(r, 0, sizeof(*r));
    r->head_len = (size_t)(end - buf);
    if (r->head_len < 16 || memcmp(buf, "HTTP/1.", 7) || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
        buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9' ||
        (buf[12] != ' ' && buf[12] != '\r'))
        return ig_error_set(err, IG_EFORMAT, "malformed HTTP status line");
    bool http10 = buf[7] == '0';
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    r->keep_alive = !http10;
    bool have_len = false;
    const char *p = memchr(buf, '\n', r->head_len) + 1;
    while (p < end - 2) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol || eol == p || eol[-1] != '\r')
            return ig_error_set(err, IG_EFORMAT, "malformed header line");
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p) return ig_error_set(err, IG_EFORMAT, "malformed header line");
        for (const char *q = p; q < colon; q++)
            if (*q <= ' ' || *q >= 127) return ig_error_set(err, IG_EFORMAT, "malformed header name");
        size_t nlen = (size_t)(colon - p);
        const char *v = colon + 1, *ve = eol - 1;
        while (v < ve && (*v == ' ' || *v == '\t')) v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        size_t vlen = (size_t)(ve - v);
        if (name_is(p, nlen, "content-length")) {
            uint64_t n = 0;
            if (vlen == 0 || vlen > 15) return ig_error_set(err, IG_EFORMAT, "bad Content-Length");
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9') return ig_error_set(err, IG_EFORMAT, "bad Content-Length");
                n = n * 10 + (uint64_t)(v[i] - '0');
            }
            if (have_len && n != r->body_len)
                return ig_error_set(err, IG_EFORMAT, "conflicting Content-Length headers");
            r->body_len = n;
            have_len = true;
        } else if (name_is(p, nlen, "transfer-encoding")) {
            return ig_error_set(err, IG_EUNSUPPORTED, "unsupported: Transfer-Encoding (chunked) response");
        } else if (name_is(p, nlen, "connection")) {
            if (value_has_token(v, vlen, "close"))
                r->keep_alive = false;
            else if (http10 && value_has_token(v, vlen, "keep-alive"))
                r->keep_alive = true;
        }
        p = eol + 1;
    }
    if (r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200)) {
        if (r->status < 200) return ig_error_set(err, IG_EUNSUPPORTED, "unsupported: 1xx response");
        r->body_len = 0;
    } else if (!have_len) {
        return ig_error_set(err, IG_EUNSUPPORTED, "unsupported: response without Content-Length");
    }
    return 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until deadline; false on timeout or error. */
static bool wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) return false;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)left);
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

int ig__bench_fetch(const ig__bench_target *t, const char *method, const char *path, const char *body,
                    int timeout_ms, size_t max_body, int *status, char **body_out, size_t *body_len,
                    ig_error *err)
{
    long long deadline = now_ms() + timeout_ms;
    size_t blen = body ? strlen(body) : 0;
    char head[2048];
    int hl = snprintf(head, sizeof(head),
                      "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nAccept: application/json\r\n"
                      "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
                      method, t->prefix, path, t->host, t->port, blen,
                      body ? "Content-Type: application/json\r\n" : "");
    if (hl < 0 || (size_t)hl >= sizeof(head)) return ig_error_set(err, IG_EINVAL, "request path too long");
    int fd = ig__bench_connect(t, err);
    if (fd < 0) return fd;
    int rc = IG_EIO;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    if (!wait_fd(fd, POLLOUT, deadline)) {
        ig_error_set(err, IG_EIO, "connect to %s:%s timed out", t->host, t->port);
        goto out_close;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        ig_error_set(err, IG_EIO, "connect to %s:%s: %s", t->host, t->port, strerror(soerr));
        goto out_close;
    }
    /* Send head then body. */
    const char *parts[2] = {head, body ? body : ""};
    size_t plens[2] = {(size_t)hl, blen};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < plens[i]) {
            ssize_t n = send(fd, parts[i] + off, plens[i] - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (!wait_fd(fd, POLLOUT, deadline)) {
                    ig_error_set(err, IG_EIO, "sending %s %s timed out", method, path);
                    goto out_close;
                }
            } else {
                ig_error_set(err, IG_EIO, "sending %s %s: %s", method, path, strerror(errno));
                goto out_close;
            }
        }
    }
    ig__bench_resp r;
    int have_head = 0;
    for (;;) {
        if (have_head && len >= r.head_len + r.body_len) break;
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                ig_error_set(err, IG_ENOMEM, "out of memory reading a response");
                goto out_close;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n > 0) {
            len += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(fd, POLLIN, deadline)) {
                ig_error_set(err, IG_EIO, "%s %s: no response within %d ms", method, path, timeout_ms);
                goto out_close;
            }
            continue;
        } else {
            ig_error_set(err, IG_EIO, "%s %s: connection closed before a complete response", method, path);
            goto out_close;
        }
        if (!have_head) {
            have_head = ig__bench_parse_response(buf, len, &r, err);
            if (have_head < 0) {
                rc = have_head;
                ig_error_prefix(err, have_head, "%s %s: ", method, path);
                goto out_close;
            }
            if (have_head && r.body_len > max_body) {
                ig_error_set(err, IG_EFORMAT, "%s %s: response body larger than %zu bytes", method, path,
                             max_body);
                goto out_close;
            }
        }
    }
    memmove(buf, buf + r.head_len, (size_t)r.body_len);
    buf[r.body_len] = 0;
    *status = r.status;
    *body_out = buf;
    *body_len = (size_t)r.body_len;
    buf = NULL;
    rc = 0;
out_close:
    free(buf);
    close(fd);
    return rc;
}
