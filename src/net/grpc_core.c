/* gRPC core server creation with the shared limits (see grpc_core.h). */
#include "net/grpc_core.h"

#include <grpc/support/time.h>
#include <stdint.h>

grpc_server *ig_grpc_core_server(size_t max_message_bytes, grpc_completion_queue **cq)
{
    if (max_message_bytes > INT32_MAX) max_message_bytes = INT32_MAX;
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = (int)max_message_bytes}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = -1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PING_STRIKES, {.integer = 2}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, {.integer = 10000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_CONCURRENT_STREAMS, {.integer = 100}},
    };
    grpc_channel_args ca = {sizeof args / sizeof args[0], args};
    grpc_server *server = grpc_server_create(&ca, NULL);
    *cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server, *cq, NULL);
    return server;
}

void ig_grpc_core_server_discard(grpc_server *server, grpc_completion_queue *cq)
{
    grpc_server_destroy(server);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}
