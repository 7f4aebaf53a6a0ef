/* ONNX window attributes to explicit padding (see dnnl_window.h). */
#include "engine/kernels/dnnl/dnnl_window.h"

#include <string.h>

int ig__dnnl_window_init(const ig_kstep *s, ig_error *err, int ns, const int64_t *in, const int64_t *k,
                         bool ceil_mode, ig__dnnl_window *w)
{
    const ig_node *n = s->node;
    int nst = 0, nd = 0, np = 0;
    const int64_t *st = ig_node_attr_ints(n, "strides", &nst);
    const int64_t *dl = ig_node_attr_ints(n, "dilations", &nd);
    const int64_t *pads = ig_node_attr_ints(n, "pads", &np);
    const char *ap = ig_node_attr_str(n, "auto_pad", "NOTSET");
    if ((st && nst != ns) || (dl && nd != ns) || (pads && np != 2 * ns))
        return ig_kstep_fail(s, err, IG_EINVAL, "strides/dilations/pads length does not match the rank");
    memset(w, 0, sizeof(*w));
    w->ns = ns;
    for (int i = 0; i < ns; i++) {
        w->k[i] = k[i];
        w->s[i] = st ? st[i] : 1;
        w->d[i] = dl ? dl[i] : 1;
        if (w->k[i] < 1 || w->s[i] < 1 || w->d[i] < 1)
            return ig_kstep_fail(s, err, IG_EINVAL, "kernel, strides and dilations must be positive");
        int64_t dk = (w->k[i] - 1) * w->d[i] + 1;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t o = (in[i] + w->s[i] - 1) / w->s[i];
            int64_t tot = (o - 1) * w->s[i] + dk - in[i];
            if (tot < 0) tot = 0;
            int64_t small = tot / 2, big = tot - small;
            w->pl[i] = !strcmp(ap, "SAME_UPPER") ? small : big;
            w->pr[i] = tot - w->pl[i];
        } else if (!strcmp(ap, "VALID")) {
            w->pl[i] = w->pr[i] = 0;
        } else if (!strcmp(ap, "NOTSET")) {
            w->pl[i] = pads ? pads[i] : 0;
            w->pr[i] = pads ? pads[i + ns] : 0;
            if (w->pl[i] < 0 || w->pr[i] < 0) return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "negative pads");
        } else {
            return ig_kstep_fail(s, err, IG_EINVAL, "unknown auto_pad '%s'", ap);
        }
        int64_t span = in[i] + w->pl[i] + w->pr[i] - dk;
        if (span < 0) return ig_kstep_fail(s, err, IG_ESHAPE, "window larger than the padded input");
        if (ceil_mode && strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER")) {
            int64_t o = (span + w->s[i] - 1) / w->s[i] + 1;
            /* a window starting in the right padding is dropped, as in ONNX/PyTorch */
            if ((o - 1) * w->s[i] >= in[i] + w->pl[i]) o--;
            w->out[i] = o;
            /* dnnl computes floor((in + pl + pr - dk) / s) + 1: widen pr to reach o */
            int64_t need = (o - 1) * w->s[i] + dk - in[i] - w->pl[i];
            if (need > w->pr[i]) w->pr[i] = need;
        } else {
            w->out[i] = span / w->s[i] + 1;
        }
    }
    return 0;
}
