/* HTTP/1.1 message framing for the proxy, on libhttp-parser: the head is parsed in one pass once it
 * is complete (so header slices point into the caller's buffer), then the body is only delimited, so
 * its bytes (chunk framing included) can be forwarded as they are. Framing is strict (nginx's rules
 * plus RFC 9112's): both Content-Length and Transfer-Encoding, a transfer coding other than
 * chunked, duplicate Host/Content-Length, obs-fold, bare LF or NUL in the head are errors, and the
 * connection is never reused after one. */
#ifndef IG_GATEWAY_HTTP1_H
#define IG_GATEWAY_HTTP1_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { IG_HTTP1_MAX_HEADERS = 100, IG_HTTP1_MAX_HEAD = 64 * 1024 };

typedef struct {
    const char *name, *value;
    size_t name_len, value_len;
} ig_http1_header;

typedef struct ig_http1_msg {
    http_parser parser;
    bool request;
    bool head_done, done;
    bool no_body;        /* a response to HEAD, or 1xx/204/304 */
    size_t head_scanned; /* bytes already searched for the end of the head (a slow head is scanned once) */
    /* head, valid while the buffer it was parsed from is not moved */
    const char *url;
    size_t url_len;
    ig_http1_header headers[IG_HTTP1_MAX_HEADERS];
    size_t n_headers;
    size_t head_len; /* bytes of the head, CRLFCRLF included */
    int status;      /* responses */
    bool keep_alive; /* both ends may reuse the connection after this message */
    bool chunked;
    int64_t content_length; /* -1 when absent */
    /* error: an HTTP status to answer with (400, 413, 431, 501) and why */
    int error_status;
    const char *error;
    /* optional: receives the body's bytes with chunk framing removed (set after ig_http1_begin) */
    void (*on_body)(void *ctx, const char *at, size_t len);
    void *body_ctx;
} ig_http1_msg;

/* What a message is: which parser reads it, and whether a response can carry a body at all. */
typedef enum { IG_HTTP1_REQUEST, IG_HTTP1_RESPONSE, IG_HTTP1_RESPONSE_TO_HEAD } ig_http1_kind;

/* Starts a new message; every field of *m is set, so it may be uninitialized. */
void ig_http1_begin(ig_http1_msg *m, ig_http1_kind kind);
/* Parses the head if buf[0..len) holds a complete one. Returns 1 when the head is done, 0 when more
 * bytes are needed, -1 on error (m->error_status, m->error). */
int ig_http1_head(ig_http1_msg *m, const char *buf, size_t len);
/* Delimits body bytes (call with the bytes after the head, in order). Returns how many bytes belong
 * to this message (the rest is the next message); sets m->done at the end; -1 on a framing error.
 * A response with neither length nor chunking ends when the connection closes: call
 * ig_http1_eof then. */
ptrdiff_t ig_http1_body(ig_http1_msg *m, const char *data, size_t len);
/* The connection closed: true when that ends the message cleanly. */
bool ig_http1_eof(ig_http1_msg *m);

/* Header lookup (case-insensitive name); NULL when absent. *len gets the value's length. */
const char *ig_http1_find(const ig_http1_msg *m, const char *name, size_t *len);
/* True when the header is hop-by-hop (Connection, Keep-Alive, TE, Trailer, Transfer-Encoding,
 * Upgrade, Proxy-*, or named in the Connection header) and must not be forwarded as is. */
bool ig_http1_is_hop(const ig_http1_msg *m, const ig_http1_header *h);

#endif
