/* Internals shared by the HTTP server's files: the request object, its reference counting and the
 * disconnect watcher that libmicrohttpd lacks for suspended connections. */
#ifndef IG_NET_HTTP_INT_H
#define IG_NET_HTTP_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "net/http_server.h"
#include "net/tls_front.h"

enum { IG__REQ_READING, IG__REQ_IN_HANDLER, IG__REQ_SUSPENDED, IG__REQ_RESUMED };

/* One request. Allocated by the URI callback on an I/O thread; references: one for the connection
 * (dropped when libmicrohttpd reports completion), one for the owed reply (taken when the handler
 * is called, dropped by ig_http_reply), one while the disconnect watcher has it registered.
 * state/replied/gone/resp/on_close are guarded by srv->lock. */
struct ig_http_req {
    ig_http_server *srv;
    struct MHD_Connection *conn; /* NULL once libmicrohttpd reported completion */
    atomic_int refs;
    int state;
    int status; /* of resp */
    bool replied, gone, watched, error_sent, too_big;
    size_t discarded;          /* body bytes dropped after too_big */
    struct MHD_Response *resp; /* reply waiting for the connection to resume */
    ig_http_close_cb on_close;
    void *on_close_arg;
    char *uri; /* raw request target */
    const char *method, *path, *query;
    int n_headers;
    ig_http_header *headers;
    char *block; /* method, path and headers, one allocation */
    char *body;
    size_t body_len, body_cap;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    ig_tls_peer *cert;       /* the verified client certificate of a TLS connection, or NULL */
    ig_http_req *next_unref; /* watcher's queue of references to drop */
};

struct ig_http_server {
    atomic_int refs; /* the owner's plus one per live request */
    ig_http_config cfg;
    char bind_address[64];
    ig_http_handler handler;
    void *ctx;
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled when active drops to 0 while draining */
    long active;         /* requests between URI callback and completion */
    atomic_bool draining;
    bool stopped;
    /* disconnect watcher */
    int epfd, wakefd;
    pthread_t watch_thread;
    bool watch_running, watch_quit;
    ig_http_req *unref_head;
    /* TLS: the front that terminates it, and whether it may still hand connections over */
    ig_tls_front *front;
    pthread_mutex_t handoff_lock;
    bool stopping;
};

void ig__http_req_release(ig_http_req *r);
/* Watcher. start/stop from the controlling thread; add/del with srv->lock held. */
int ig__http_watch_start(ig_http_server *srv, ig_error *err);
void ig__http_watch_stop(ig_http_server *srv);
void ig__http_watch_add(ig_http_server *srv, ig_http_req *r);
void ig__http_watch_del(ig_http_server *srv, ig_http_req *r);
/* Marks r gone and returns its close callback to run (outside the lock); srv->lock held. */
ig_http_close_cb ig__http_mark_gone(ig_http_req *r, void **arg);

#endif
