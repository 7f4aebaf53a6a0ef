/* HTTP server against real clients on an ephemeral port: raw sockets and curl. Keep-alive,
 * pipelining, deferred replies from another thread, limits (413 before the body, 414, 431, 400),
 * chunked bodies, HTTP/1.0, idle timeout, disconnect notification and graceful stop. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "net/http_server.h"

static int port;
static atomic_int closed_calls;
static ig_http_req *_Atomic held;

static void reply_text(ig_http_req *req, int status, const char *text)
{
    ig_http_header h[] = {{"Content-Type", "text/plain"}, {"Content-Length", "999"}};
    struct iovec iov[2] = {{(void *)text, strlen(text) / 2},
                           {(void *)(text + strlen(text) / 2), strlen(text) - strlen(text) / 2}};
    CHECK_EQ_INT(ig_http_reply(req, status, h, 2, iov, 2), 0);
}

static void *defer_main(void *arg)
{
    ig_http_req *req = arg;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    reply_text(req, 202, "deferred");
    return NULL;
}

static void on_close(ig_http_req *req, void *arg)
{
    atomic_fetch_add(&closed_calls, 1);
}

static void handler(ig_http_req *req, void *ctx)
{
    const char *path = ig_http_req_path(req);
    if (!strcmp(path, "/defer")) {
        pthread_t t;
        pthread_create(&t, NULL, defer_main, req);
        pthread_detach(t);
        return;
    }
    if (!strcmp(path, "/hold")) {
        ig_http_req_on_close(req, on_close, NULL);
        atomic_store(&held, req);
        return;
    }
    size_t len;
    ig_http_req_body(req, &len);
    const char *x = ig_http_req_header(req, "x-TEST");
    char buf[512];
    snprintf(buf, sizeof buf, "%s %s q=%s body=%zu x=%s", ig_http_req_method(req), path,
             ig_http_req_query(req), len, x ? x : "-");
    reply_text(req, 200, buf);
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t k = send(fd, s + off, n - off, MSG_NOSIGNAL);
        if (k <= 0) return;
        off += (size_t)k;
    }
}

/* Reads one response into out (status line .. body); returns the status, 0 on EOF/timeout. */
static char pending[65536];
static size_t npending;
static int read_response(int fd, char *out, size_t cap)
{
    for (;;) {
        char *end = memmem(pending, npending, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - pending) + 4, cl = 0;
            const char *p = memmem(pending, head, "Content-Length: ", 16);
            if (p) cl = strtoul(p + 16, NULL, 10);
            if (npending >= head + cl) {
                size_t n = head + cl < cap - 1 ? head + cl : cap - 1;
                memcpy(out, pending, n);
                out[n] = 0;
                memmove(pending, pending + head + cl, npending - head - cl);
                npending -= head + cl;
                int st = 0;
                sscanf(out, "HTTP/1.%*d %d", &st);
                return st;
            }
        }
        ssize_t k = recv(fd, pending + npending, sizeof pending - npending, 0);
        if (k <= 0) return 0;
        npending += (size_t)k;
    }
}

static int request(const char *raw, char *out, size_t cap)
{
    int fd = dial();
    npending = 0;
    send_str(fd, raw);
    int st = read_response(fd, out, cap);
    close(fd);
    return st;
}

static bool peer_closed(int fd, int secs)
{
    struct timeval tv = {secs, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b[256];
    ssize_t k;
    while ((k = recv(fd, b, sizeof b, 0)) > 0) {
    }
    return k == 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_basic_and_pipelining(void)
{
    char out[4096];
    CHECK_EQ_INT(request("GET /v2/a%20b?x=1%202 HTTP/1.1\r\nHost: t\r\nX-Test: yes\r\n\r\n", out, sizeof out),
                 200);
    CHECK(strstr(out, "GET /v2/a b q=x=1%202 body=0 x=yes") != NULL);
    CHECK(strstr(out, "Content-Length: 34\r\n") != NULL);
    CHECK(strstr(out, "999") == NULL);
    /* three pipelined requests in one write, answered in order on one connection */
    int fd = dial();
    npending = 0;
    send_str(fd, "POST /p1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                 "GET /p2 HTTP/1.1\r\nHost: t\r\n\r\n"
                 "POST /defer HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 200);
    CHECK(strstr(out, "POST /p1 q= body=3") != NULL);
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 200);
    CHECK(strstr(out, "GET /p2") != NULL);
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 202);
    CHECK(strstr(out, "\r\n\r\ndeferred") != NULL);
    /* the connection stays open for more */
    send_str(fd, "GET /again HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 200);
    close(fd);
}

static void test_limits(void)
{
    char out[4096];
    /* 413 from Content-Length before any body byte: no 100 Continue, then the connection closes */
    int fd = dial();
    npending = 0;
    send_str(fd, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n");
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 413);
    CHECK(strstr(out, "Content-Length:") != NULL);
    CHECK(peer_closed(fd, 3));
    close(fd);
    fd = dial();
    npending = 0;
    send_str(fd, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999\r\n\r\n");
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 413);
    close(fd);
    /* Expect: 100-continue within the limit gets 100, then the answer */
    fd = dial();
    npending = 0;
    send_str(fd, "POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 100);
    send_str(fd, "abcd");
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 200);
    CHECK(strstr(out, "body=4") != NULL);
    close(fd);
    /* chunked: within the limit, and past it */
    CHECK_EQ_INT(request("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                         out, sizeof out),
                 200);
    CHECK(strstr(out, "body=11") != NULL);
    char big[6000];
    int n = snprintf(big, sizeof big, "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += snprintf(big + n, sizeof big - n, "400\r\n");
        memset(big + n, 'z', 1024);
        n += 1024;
        n += snprintf(big + n, sizeof big - n, "\r\n");
    }
    snprintf(big + n, sizeof big - n, "0\r\n\r\n");
    CHECK_EQ_INT(request(big, out, sizeof out), 413);
    /* 414, 431, 400 */
    char line[3000];
    snprintf(line, sizeof line, "GET /%02000d HTTP/1.1\r\nHost: t\r\n\r\n", 0);
    CHECK_EQ_INT(request(line, out, sizeof out), 414);
    snprintf(line, sizeof line, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %02500d\r\n\r\n", 0);
    CHECK_EQ_INT(request(line, out, sizeof out), 431);
    CHECK_EQ_INT(request("\x01\x02 garbage\r\n\r\n", out, sizeof out), 400);
    CHECK_EQ_INT(request("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: x1\r\n\r\n", out, sizeof out), 400);
    /* HTTP/1.0: answered, then closed */
    fd = dial();
    npending = 0;
    send_str(fd, "GET /ten HTTP/1.0\r\n\r\n");
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 200);
    CHECK(strstr(out, "Content-Length:") != NULL);
    CHECK(peer_closed(fd, 3));
    close(fd);
}

static void test_curl(void)
{
    char cmd[512], out[256] = "";
    snprintf(cmd, sizeof cmd,
             "curl -s -o /dev/null -o /dev/null -o /dev/null -w '%%{http_code}:%%{num_connects} ' "
             "http://127.0.0.1:%d/a "
             "http://127.0.0.1:%d/defer -d hello http://127.0.0.1:%d/b",
             port, port, port);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    pclose(p);
    /* one connection, reused by the second and third transfer */
    CHECK_STR(out, "200:1 202:0 200:0 ");
}

static void test_idle_timeout(void)
{
    int fd = dial();
    send_str(fd, "GET / HT"); /* and then nothing */
    time_t t0 = time(NULL);
    CHECK(peer_closed(fd, 6));
    CHECK(time(NULL) - t0 <= 4);
    close(fd);
}

static void test_disconnect(void)
{
    atomic_store(&closed_calls, 0);
    atomic_store(&held, NULL);
    int fd = dial();
    send_str(fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 200 && !atomic_load(&held); i++) sleep_ms(10);
    ig_http_req *req = atomic_load(&held);
    CHECK(req != NULL);
    if (!req) return;
    CHECK(!ig_http_req_client_gone(req));
    close(fd);
    for (int i = 0; i < 200 && !atomic_load(&closed_calls); i++) sleep_ms(10);
    CHECK_EQ_INT(atomic_load(&closed_calls), 1);
    CHECK(ig_http_req_client_gone(req));
    ig_http_req_on_close(req, on_close, NULL); /* already gone: runs now */
    CHECK_EQ_INT(atomic_load(&closed_calls), 2);
    reply_text(req, 200, "too late"); /* still owed; dropped quietly */
}

struct stopper {
    ig_http_server *srv;
    atomic_bool done;
};

static void *stop_main(void *arg)
{
    struct stopper *s = arg;
    ig_http_server_stop(s->srv, true);
    atomic_store(&s->done, true);
    return NULL;
}

static void test_graceful_stop(ig_http_server *srv)
{
    atomic_store(&held, NULL);
    atomic_store(&closed_calls, 0);
    int idle = dial(); /* an idle keep-alive connection: closed by the stop */
    char out[4096];
    npending = 0;
    send_str(idle, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK_EQ_INT(read_response(idle, out, sizeof out), 200);
    int fd = dial();
    npending = 0;
    send_str(fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 200 && !atomic_load(&held); i++) sleep_ms(10);
    CHECK(atomic_load(&held) != NULL);
    if (!atomic_load(&held)) return;
    struct stopper s = {.srv = srv};
    pthread_t t;
    pthread_create(&t, NULL, stop_main, &s);
    sleep_ms(300);
    CHECK(!atomic_load(&s.done)); /* waiting for the in-flight request */
    int late = dial();            /* no longer accepted */
    CHECK(late < 0);
    if (late >= 0) close(late);
    reply_text(atomic_load(&held), 200, "finished");
    CHECK_EQ_INT(read_response(fd, out, sizeof out), 200);
    CHECK(strstr(out, "finished") != NULL);
    CHECK(strstr(out, "Connection: close") != NULL);
    pthread_join(t, NULL);
    CHECK(atomic_load(&s.done));
    CHECK_EQ_INT(atomic_load(&closed_calls), 0);
    CHECK(peer_closed(idle, 3));
    close(fd);
    close(idle);
}

int main(void)
{
    ig_http_config cfg = {.bind_address = "127.0.0.1",
                          .port = 0,
                          .io_threads = 2,
                          .max_body_bytes = 2048,
                          .max_header_bytes = 1024,
                          .max_uri_bytes = 1024,
                          .idle_timeout_ms = 1000};
    ig_http_server *srv;
    ig_error err = {0};
    CHECK_EQ_INT(ig_http_server_create(&cfg, handler, NULL, &srv, &err), 0);
    CHECK_EQ_INT(ig_http_server_start(srv, &err), 0);
    port = ig_http_server_port(srv);
    CHECK(port > 0);
    test_basic_and_pipelining();
    test_limits();
    if (system("command -v curl >/dev/null 2>&1") == 0)
        test_curl();
    else
        printf("curl not installed: skipping the curl check\n");
    test_idle_timeout();
    test_disconnect();
    test_graceful_stop(srv);
    ig_http_server_destroy(srv);

    /* bad configs */
    ig_http_config bad = {.bind_address = "not-an-address"};
    CHECK_EQ_INT(ig_http_server_create(&bad, handler, NULL, &srv, &err), 0);
    CHECK_EQ_INT(ig_http_server_start(srv, &err), IG_EINVAL);
    ig_http_server_destroy(srv);
    return CHECK_DONE();
}
