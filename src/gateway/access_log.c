/* The access-log line writer shared by the REST data plane and the gRPC front (see access_log.h).
 * Field order is fixed so lines of both kinds read alike: time, protocol, ids, who, what, where to,
 * outcome, sizes and latency. */
#include "gateway/access_log.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "protocol/json.h"

static void str_field(ig_json_writer *w, const char *key, const char *v, size_t len)
{
    ig_jw_lit(w, key);
    ig_jw_str(w, v ? v : "", v ? len : 0);
}

static void cstr_field(ig_json_writer *w, const char *key, const char *v)
{
    str_field(w, key, v, v ? strlen(v) : 0);
}

static void num_field(ig_json_writer *w, const char *key, uint64_t v)
{
    ig_jw_lit(w, key);
    ig_jw_u64(w, v);
}

void ig_gw_access_log_write(ig_gw_shared *sh, const ig_gw_access_entry *e)
{
    FILE *f = sh ? sh->access_log : NULL;
    if (!f) return;
    ig_json_writer w = {0};
    ig_jw_lit(&w, "{\"ts_ms\":");
    ig_jw_u64(&w, ig_wall_ms());
    if (e->protocol) cstr_field(&w, ",\"protocol\":", e->protocol);
    if (e->request_id) cstr_field(&w, ",\"request_id\":", e->request_id);
    if (e->traceparent) cstr_field(&w, ",\"traceparent\":", e->traceparent);
    cstr_field(&w, ",\"client\":", e->client);
    cstr_field(&w, ",\"principal\":", e->principal);
    cstr_field(&w, ",\"method\":", e->method);
    if (e->path) str_field(&w, ",\"path\":", e->path, e->path_len);
    cstr_field(&w, ",\"model\":", e->model);
    cstr_field(&w, ",\"version\":", e->version);
    cstr_field(&w, ",\"route\":", e->route);
    if (e->pool) cstr_field(&w, ",\"pool\":", e->pool);
    cstr_field(&w, ",\"upstream\":", e->upstream);
    if (e->status >= 0) num_field(&w, ",\"status\":", (uint64_t)e->status);
    if (e->grpc_status >= 0) num_field(&w, ",\"grpc_status\":", (uint64_t)e->grpc_status);
    num_field(&w, ",\"tries\":", e->tries);
    num_field(&w, ",\"bytes_in\":", e->bytes_in);
    num_field(&w, ",\"bytes_out\":", e->bytes_out);
    num_field(&w, ",\"duration_us\":", e->duration_us);
    ig_jw_lit(&w, "}\n");
    size_t len;
    char *line = ig_jw_take(&w, &len);
    if (!line) return;
    pthread_mutex_lock(&sh->log_lock);
    fwrite(line, 1, len, f);
    pthread_mutex_unlock(&sh->log_lock);
    free(line);
}
