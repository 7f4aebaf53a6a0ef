/* Window attribute parsing and output-size arithmetic for convolution and pooling (nn_window.h). */
#include "engine/kernels/ref/nn_window.h"

#include <stdio.h>
#include <string.h>

int ig__window_parse(const ig_node *n, int nsp, const int64_t *kernel, ig__window *w, char *why)
{
    memset(w, 0, sizeof(*w));
    if (nsp < 1 || nsp > IG_MAX_DIMS - 2) return snprintf(why, 128, "unsupported spatial rank %d", nsp), -1;
    w->nsp = nsp;
    int cnt;
    const int64_t *ks = ig_node_attr_ints(n, "kernel_shape", &cnt);
    if (ks) {
        if (cnt != nsp)
            return snprintf(why, 128, "kernel_shape has %d values for %d spatial dims", cnt, nsp), -1;
        memcpy(w->kernel, ks, sizeof(int64_t) * nsp);
    } else if (kernel) {
        memcpy(w->kernel, kernel, sizeof(int64_t) * nsp);
    } else {
        return snprintf(why, 128, "kernel_shape attribute is required"), -1;
    }
    const int64_t *st = ig_node_attr_ints(n, "strides", &cnt);
    if (st && cnt != nsp)
        return snprintf(why, 128, "strides has %d values for %d spatial dims", cnt, nsp), -1;
    const int64_t *dl = ig_node_attr_ints(n, "dilations", &cnt);
    if (dl && cnt != nsp)
        return snprintf(why, 128, "dilations has %d values for %d spatial dims", cnt, nsp), -1;
    const int64_t *pd = ig_node_attr_ints(n, "pads", &cnt);
    if (pd && cnt != 2 * nsp)
        return snprintf(why, 128, "pads has %d values for %d spatial dims", cnt, nsp), -1;
    for (int i = 0; i < nsp; i++) {
        w->stride[i] = st ? st[i] : 1;
        w->dil[i] = dl ? dl[i] : 1;
        w->pad_b[i] = pd ? pd[i] : 0;
        w->pad_e[i] = pd ? pd[nsp + i] : 0;
        if (w->kernel[i] < 1 || w->stride[i] < 1 || w->dil[i] < 1 || w->pad_b[i] < 0 || w->pad_e[i] < 0)
            return snprintf(why, 128, "kernel, strides and dilations must be positive, pads non-negative"),
                   -1;
    }
    const char *ap = ig_node_attr_str(n, "auto_pad", "NOTSET");
    if (!strcmp(ap, "NOTSET") || !*ap)
        w->auto_pad = IG__PAD_NOTSET;
    else if (!strcmp(ap, "SAME_UPPER"))
        w->auto_pad = IG__PAD_SAME_UPPER;
    else if (!strcmp(ap, "SAME_LOWER"))
        w->auto_pad = IG__PAD_SAME_LOWER;
    else if (!strcmp(ap, "VALID"))
        w->auto_pad = IG__PAD_VALID;
    else
        return snprintf(why, 128, "unknown auto_pad '%s'", ap), -1;
    w->ceil_mode = ig_node_attr_int(n, "ceil_mode", 0) != 0;
    return 0;
}

int ig__window_output(ig__window *w, const int64_t *in, int64_t *out, char *why)
{
    for (int i = 0; i < w->nsp; i++) {
        int64_t ext = w->dil[i] * (w->kernel[i] - 1) + 1, s = w->stride[i];
        if (w->auto_pad == IG__PAD_SAME_UPPER || w->auto_pad == IG__PAD_SAME_LOWER) {
            out[i] = (in[i] + s - 1) / s;
            int64_t total = (out[i] - 1) * s + ext - in[i];
            if (total < 0) total = 0;
            w->pad_b[i] = w->auto_pad == IG__PAD_SAME_UPPER ? total / 2 : total - total / 2;
            w->pad_e[i] = total - w->pad_b[i];
            continue;
        }
        if (w->auto_pad == IG__PAD_VALID) w->pad_b[i] = w->pad_e[i] = 0;
        int64_t span = in[i] + w->pad_b[i] + w->pad_e[i] - ext;
        if (span < 0)
            return snprintf(why, 128, "window extent %lld exceeds padded input %lld", (long long)ext,
                            (long long)(in[i] + w->pad_b[i] + w->pad_e[i])),
                   -1;
        out[i] = (w->ceil_mode ? (span + s - 1) / s : span / s) + 1;
        /* A ceil-mode window must start inside the input or its leading pad. */
        if (w->ceil_mode && (out[i] - 1) * s >= in[i] + w->pad_b[i]) out[i]--;
    }
    return 0;
}
