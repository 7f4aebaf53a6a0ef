/* HTTP/1.1 framing: heads arriving a byte at a time, the smuggling rules (CL with TE, bare LF, folds
 * split across reads, unknown codings), chunked bodies delimited with their framing, a pipelined next
 * message left alone, and responses without a body. */
#include "gateway/http1.h"

#include "check.h"

/* Feeds text a byte at a time, as a slow client would; returns ig_http1_head's last result. */
static int head_bytewise(ig_http1_msg *m, const char *text)
{
    int r = 0;
    for (size_t n = 1; n <= strlen(text) && r == 0; n++) r = ig_http1_head(m, text, n);
    return r;
}

static void test_heads(void)
{
    ig_http1_msg m;
    const char *req = "POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    ig_http1_begin(&m, IG_HTTP1_REQUEST);
    CHECK_EQ_INT(head_bytewise(&m, req), 1);
    CHECK_EQ_INT(m.content_length, 3);
    CHECK_EQ_INT(m.head_len, strlen(req) - 3);
    CHECK(m.url_len == 18 && !memcmp(m.url, "/v2/models/m/infer", 18));
    size_t len;
    CHECK(ig_http1_find(&m, "host", &len) && len == 1);
    CHECK_EQ_INT(ig_http1_body(&m, req + m.head_len, 3), 3);
    CHECK(m.done && m.keep_alive);

    struct {
        const char *text;
        int status;
    } bad[] = {
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\nHost: x\n\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
         400}, /* the fold's space arrives in a later read */
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ig_http1_begin(&m, IG_HTTP1_REQUEST);
        CHECK_EQ_INT(head_bytewise(&m, bad[i].text), -1);
        CHECK_EQ_INT(m.error_status, bad[i].status);
    }
}

static void test_bodies(void)
{
    ig_http1_msg m;
    const char *two = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ig_http1_begin(&m, IG_HTTP1_REQUEST);
    CHECK_EQ_INT(ig_http1_head(&m, two, strlen(two)), 1);
    CHECK(m.chunked);
    const char *body = two + m.head_len;
    ptrdiff_t used = ig_http1_body(&m, body, strlen(body));
    CHECK(m.done);
    CHECK_EQ_INT(used, (ptrdiff_t)strlen("3\r\nabc\r\n0\r\n\r\n")); /* framing included, next request left */

    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    ig_http1_begin(&m, IG_HTTP1_RESPONSE_TO_HEAD); /* the length describes no bytes */
    CHECK_EQ_INT(ig_http1_head(&m, resp, strlen(resp)), 1);
    CHECK(m.done && m.status == 200);

    const char *until_close = "HTTP/1.1 200 OK\r\n\r\nrest";
    ig_http1_begin(&m, IG_HTTP1_RESPONSE);
    CHECK_EQ_INT(ig_http1_head(&m, until_close, strlen(until_close)), 1);
    CHECK_EQ_INT(ig_http1_body(&m, until_close + m.head_len, 4), 4);
    CHECK(!m.done && ig_http1_eof(&m));
}

int main(void)
{
    test_heads();
    test_bodies();
    return CHECK_DONE();
}
