/* Strict HTTP/1.1 framing over libhttp-parser (see http1.h). */
#include "gateway/http1.h"

#include <string.h>
#include <strings.h>

static int on_url(http_parser *p, const char *at, size_t len)
{
    ig_http1_msg *m = p->data;
    if (!m->url) m->url = at;
    m->url_len = (size_t)(at + len - m->url);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    ig_http1_msg *m = p->data;
    if (m->n_headers == IG_HTTP1_MAX_HEADERS) {
        m->error_status = 431;
        m->error = "too many header fields";
        return 1;
    }
    m->headers[m->n_headers++] = (ig_http1_header){.name = at, .name_len = len, .value = at + len};
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    ig_http1_msg *m = p->data;
    ig_http1_header *h = &m->headers[m->n_headers - 1];
    h->value = at;
    h->value_len = len;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    ig_http1_msg *m = p->data;
    m->head_done = true;
    /* A response without a body: it answers a HEAD or its status says so. */
    if (!m->request &&
        (m->no_body || p->status_code / 100 == 1 || p->status_code == 204 || p->status_code == 304)) {
        m->no_body = true;
        return 1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    ig_http1_msg *m = p->data;
    if (m->on_body) m->on_body(m->body_ctx, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    ig_http1_msg *m = p->data;
    m->done = true;
    http_parser_pause(p, 1); /* the next message's bytes are not ours */
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void ig_http1_begin(ig_http1_msg *m, ig_http1_kind kind)
{
    memset(m, 0, offsetof(ig_http1_msg, headers));
    m->n_headers = 0;
    m->head_len = 0;
    m->status = 0;
    m->keep_alive = false;
    m->chunked = false;
    m->content_length = -1;
    m->error_status = 0;
    m->error = NULL;
    m->on_body = NULL;
    m->body_ctx = NULL;
    m->request = kind == IG_HTTP1_REQUEST;
    m->no_body = kind == IG_HTTP1_RESPONSE_TO_HEAD;
    http_parser_init(&m->parser, m->request ? HTTP_REQUEST : HTTP_RESPONSE);
    m->parser.data = m;
}

static int fail(ig_http1_msg *m, int status, const char *why)
{
    if (!m->error_status) {
        m->error_status = status;
        m->error = why;
    }
    return -1;
}

const char *ig_http1_find(const ig_http1_msg *m, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < m->n_headers; i++) {
        const ig_http1_header *h = &m->headers[i];
        if (h->name_len == n && !strncasecmp(h->name, name, n)) {
            if (len) *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

static size_t count_headers(const ig_http1_msg *m, const char *name)
{
    size_t n = strlen(name), c = 0;
    for (size_t i = 0; i < m->n_headers; i++)
        c += m->headers[i].name_len == n && !strncasecmp(m->headers[i].name, name, n);
    return c;
}

/* Where the head ends: the offset after CRLFCRLF, 0 when not there yet, -1 when a bare LF ends a
 * line first (never accepted: it is how requests are smuggled past lenient parsers), -2 for obs-fold.
 * The search resumes at *scanned, so a head that arrives a byte at a time costs linear time; a final
 * LF is looked at again once the byte after it (a fold?) has arrived. */
static ptrdiff_t head_end(const char *buf, size_t len, size_t *scanned)
{
    for (size_t i = *scanned; i < len; i++) {
        if (buf[i] == '\0') return -1;
        if (buf[i] != '\n') continue;
        if (i == 0 || buf[i - 1] != '\r') return -1;
        if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') return (ptrdiff_t)i + 1;
        /* obs-fold: a line that starts with a space or tab continues the previous one */
        if (i + 1 < len && (buf[i + 1] == ' ' || buf[i + 1] == '\t')) return -2;
    }
    *scanned = len && buf[len - 1] == '\n' ? len - 1 : len;
    return 0;
}

int ig_http1_head(ig_http1_msg *m, const char *buf, size_t len)
{
    ptrdiff_t end = head_end(buf, len < IG_HTTP1_MAX_HEAD ? len : IG_HTTP1_MAX_HEAD, &m->head_scanned);
    if (end == -1) return fail(m, 400, "bare LF or NUL in the request head");
    if (end == -2) return fail(m, 400, "folded header lines are not accepted");
    if (end == 0) {
        if (len >= IG_HTTP1_MAX_HEAD)
            return fail(m, m->request ? 431 : 502, "header section larger than 64 KiB");
        return 0;
    }
    size_t got = http_parser_execute(&m->parser, &settings, buf, (size_t)end);
    enum http_errno e = HTTP_PARSER_ERRNO(&m->parser);
    if (m->error_status) return -1;
    if ((e != HPE_OK && e != HPE_PAUSED) || !m->head_done) {
        if (e == HPE_UNEXPECTED_CONTENT_LENGTH)
            return fail(m, 400, "both Content-Length and Transfer-Encoding");
        if (e == HPE_INVALID_CONTENT_LENGTH) return fail(m, 400, "invalid Content-Length");
        return fail(m, 400, e != HPE_OK ? http_errno_description(e) : "malformed head");
    }
    if (m->parser.upgrade) return fail(m, 501, "protocol upgrades are not supported");
    m->head_len = (size_t)end;
    (void)got;
    size_t te_len;
    const char *te = ig_http1_find(m, "Transfer-Encoding", &te_len);
    if (te) {
        if (te_len != 7 || strncasecmp(te, "chunked", 7))
            return fail(m, 501, "only the chunked transfer coding is supported");
        if (m->parser.http_minor == 0) return fail(m, 400, "Transfer-Encoding in an HTTP/1.0 message");
        if (count_headers(m, "Transfer-Encoding") > 1) return fail(m, 400, "duplicate Transfer-Encoding");
        m->chunked = true;
    }
    if (count_headers(m, "Content-Length") > 1) return fail(m, 400, "duplicate Content-Length");
    if (m->request && count_headers(m, "Host") > 1) return fail(m, 400, "duplicate Host");
    if (ig_http1_find(m, "Content-Length", NULL) && !m->chunked)
        m->content_length = (int64_t)m->parser.content_length;
    /* http_parser counts the body down in content_length; keep the declared value above. */
    m->status = m->parser.status_code;
    m->keep_alive = http_should_keep_alive(&m->parser);
    if (m->parser.http_major != 1) return fail(m, 505, "only HTTP/1.x is supported");
    if (e == HPE_PAUSED) http_parser_pause(&m->parser, 0);
    return 1;
}

ptrdiff_t ig_http1_body(ig_http1_msg *m, const char *data, size_t len)
{
    if (m->done) return 0;
    size_t got = http_parser_execute(&m->parser, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&m->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&m->parser, 0);
        return (ptrdiff_t)got;
    }
    if (e != HPE_OK) {
        fail(m, 400, http_errno_description(e));
        return -1;
    }
    return (ptrdiff_t)got;
}

bool ig_http1_eof(ig_http1_msg *m)
{
    if (m->done) return true;
    http_parser_execute(&m->parser, &settings, NULL, 0);
    return m->done;
}

bool ig_http1_is_hop(const ig_http1_msg *m, const ig_http1_header *h)
{
    static const char *const hop[] = {"connection",       "keep-alive",          "te",
                                      "trailer",          "transfer-encoding",   "upgrade",
                                      "proxy-connection", "proxy-authorization", "proxy-authenticate"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (h->name_len == strlen(hop[i]) && !strncasecmp(h->name, hop[i], h->name_len)) return true;
    size_t clen;
    const char *c = ig_http1_find(m, "Connection", &clen);
    /* Connection: a, b names more hop-by-hop headers */
    for (size_t i = 0; c && i < clen;) {
        while (i < clen && (c[i] == ' ' || c[i] == ',' || c[i] == '\t')) i++;
        size_t s = i;
        while (i < clen && c[i] != ',' && c[i] != ' ' && c[i] != '\t') i++;
        if (i > s && i - s == h->name_len && !strncasecmp(c + s, h->name, h->name_len)) return true;
    }
    return false;
}
