/* infergate gateway as a running thing: config snapshots, worker threads, the health thread, reload
 * and drain. The CLI (src/cli/gateway.c) owns signals and calls these. */
#ifndef IG_GATEWAY_GATEWAY_H
#define IG_GATEWAY_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "infergate/error.h"

typedef struct ig_gateway ig_gateway;

/* Validates a config file without starting anything. 0, or the error with its line. */
int ig_gateway_check(const char *config_path, ig_error *err);
/* Loads the config, binds the listeners and starts the workers and the health thread. */
ig_gateway *ig_gateway_start(const char *config_path, ig_error *err);
/* Reads the file again: a valid file replaces the running config (requests in flight keep the old
 * one); an invalid one is refused with its reason and the old config keeps serving. */
int ig_gateway_reload(ig_gateway *g, ig_error *err);
/* True when the file's modification time or size changed since the last (attempted) load. */
bool ig_gateway_file_changed(ig_gateway *g);
/* Stops accepting, lets requests in flight finish up to timeout_ms, then stops the workers. */
void ig_gateway_drain(ig_gateway *g, int64_t timeout_ms);
void ig_gateway_free(ig_gateway *g);

#endif
