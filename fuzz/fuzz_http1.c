/* libFuzzer target for the gateway's HTTP/1.1 framing: the first byte picks request or response,
 * the rest is fed as a head and then as body bytes in pieces whose sizes come from the input, as
 * they would arrive from a socket. Any crash or sanitizer report is a bug; errors are expected. */
#include <stddef.h>
#include <stdint.h>

#include "gateway/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    bool request = data[0] & 1;
    size_t piece = 1 + (data[1] % 64);
    const char *buf = (const char *)data + 2;
    size_t len = size - 2;
    ig_http1_msg m;
    ig_http1_begin(&m, request         ? IG_HTTP1_REQUEST
                       : (data[0] & 2) ? IG_HTTP1_RESPONSE_TO_HEAD
                                       : IG_HTTP1_RESPONSE);
    /* The head arrives in growing prefixes, as the proxy sees it. */
    size_t have = 0;
    int r = 0;
    while (r == 0 && have < len) {
        have = have + piece < len ? have + piece : len;
        r = ig_http1_head(&m, buf, have);
    }
    if (r != 1) return 0;
    size_t len_v;
    (void)ig_http1_find(&m, "Content-Length", &len_v);
    for (size_t i = 0; i < m.n_headers; i++) (void)ig_http1_is_hop(&m, &m.headers[i]);
    size_t off = m.head_len;
    while (off < len && !m.done) {
        size_t n = len - off < piece ? len - off : piece;
        ptrdiff_t used = ig_http1_body(&m, buf + off, n);
        if (used < 0) return 0;
        off += (size_t)used;
        if ((size_t)used < n) break; /* the rest is the next message */
    }
    if (!m.done) ig_http1_eof(&m);
    return 0;
}
