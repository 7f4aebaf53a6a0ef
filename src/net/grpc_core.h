/* A gRPC core server with infergate's HTTP/2 limits, for every gRPC listener (serve's endpoint and the
 * gateway's gRPC front): the largest message accepted, ping strikes (keepalive pings without calls at
 * most every 10 s; the connection is closed after two strikes, which bounds ping floods) and at most
 * 100 concurrent streams per connection. */
#ifndef IG_NET_GRPC_CORE_H
#define IG_NET_GRPC_CORE_H

#include <grpc/grpc.h>
#include <stddef.h>

/* A new server (not started) with one completion queue for `next` registered; grpc_init is the
 * caller's. max_message_bytes above INT32_MAX is clamped. */
grpc_server *ig_grpc_core_server(size_t max_message_bytes, grpc_completion_queue **cq);
/* Frees a server that never started (its port could not be bound) and drains and frees its queue. */
void ig_grpc_core_server_discard(grpc_server *server, grpc_completion_queue *cq);

#endif
