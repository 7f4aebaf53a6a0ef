/* The admin listener's endpoints: /metrics, /ready, /live, and a route's rollout (read, promote,
 * roll back). */
#include "gateway/proxy_int.h"

/* ---- admin endpoints (served on the admin listener only) ---- */

/* GET /admin/routes/NAME: the rollout's state; POST .../promote or .../rollback: manual decisions.
 * Needs an admin credential when the config has an auth section. */
static void admin_rollout(gw_client *c, char *rest, bool get)
{
    gw_request *rq = &c->rq;
    if (!ig__gw_request_authenticated(c, true)) return;
    char *action = strchr(rest, '/');
    if (action) *action++ = '\0';
    const ig_gw_route *route = NULL;
    for (size_t i = 0; i < rq->cfg->n_routes; i++)
        if (!strcmp(rq->cfg->routes[i].name, rest)) route = &rq->cfg->routes[i];
    if (!route || !route->rollout) {
        ig__gw_client_error(c, 404, "no route with a rollout by that name", NULL, !c->req.done);
        return;
    }
    int64_t now = (int64_t)ig_loop_now(c->wk->loop);
    if (get && !action) {
        char *json = ig_rollout_status_json(route->rollout);
        if (!json)
            ig__gw_client_error(c, 503, "out of memory", NULL, false);
        else
            ig__gw_client_local_response(c, 200, "application/json", json, strlen(json), "", !c->req.done);
        free(json);
    } else if (c->req.parser.method == HTTP_POST && action &&
               (!strcmp(action, "promote") || !strcmp(action, "rollback"))) {
        int rc = !strcmp(action, "promote") ? ig_rollout_promote(route->rollout, rq->principal, now)
                                            : ig_rollout_rollback(route->rollout, rq->principal, now);
        if (rc)
            ig__gw_client_error(c, 409, "the route has no canary to decide", NULL, !c->req.done);
        else
            ig__gw_client_local_response(c, 200, "application/json", "{\"ok\":true}", 11, "", !c->req.done);
    } else {
        ig__gw_client_error(c, 405, "use GET /admin/routes/NAME or POST /admin/routes/NAME/promote|rollback",
                            NULL, !c->req.done);
    }
}

void ig__gw_handle_admin(gw_client *c)
{
    char path[256];
    size_t n = c->req.url_len < sizeof path - 1 ? c->req.url_len : sizeof path - 1;
    memcpy(path, c->req.url, n);
    path[n] = '\0';
    char *q = strchr(path, '?');
    if (q) *q = '\0';
    bool get = c->req.parser.method == HTTP_GET;
    if (get && !strcmp(path, "/metrics")) {
        ig_buf b = {0};
        ig_gw_stats_expose(&b);
        if (c->wk->sh->expose) c->wk->sh->expose(c->wk->sh->expose_ctx, &b);
        if (b.oom)
            ig__gw_client_error(c, 503, "out of memory", NULL, false);
        else
            ig__gw_client_local_response(c, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len, "",
                                         false);
        ig_buf_free(&b);
    } else if (get && (!strcmp(path, "/ready") || !strcmp(path, "/live"))) {
        bool draining = atomic_load_explicit(&c->wk->sh->draining, memory_order_relaxed);
        if (draining && !strcmp(path, "/ready"))
            ig__gw_client_error(c, 503, "draining", NULL, false);
        else
            ig__gw_client_local_response(c, 200, "text/plain", "ok\n", 3, "", false);
    } else if (!strncmp(path, "/admin/routes/", 14)) {
        admin_rollout(c, path + 14, get);
    } else {
        ig__gw_client_error(c, 404, "unknown admin path", NULL, !c->req.done);
    }
    ig__gw_request_local_end(c);
}
