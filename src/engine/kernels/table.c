/* The kernel table: the groups of kernel.h searched in order, matched on (domain, op, opset, dtype). */
#include <string.h>

#include "engine/kernels/kernel.h"

static const ig_kernel_def *const groups[] = {
#define IG__KERNEL_GROUP_REF(g) ig__kernels_##g,
    IG_KERNEL_GROUPS(IG__KERNEL_GROUP_REF)
#undef IG__KERNEL_GROUP_REF
};
enum { n_groups = sizeof(groups) / sizeof(groups[0]) };

/* "" and "ai.onnx" name the same domain. */
static bool same_domain(const char *a, const char *b)
{
    if (!strcmp(a, "ai.onnx")) a = "";
    if (!strcmp(b, "ai.onnx")) b = "";
    return !strcmp(a, b);
}

static bool matches(const ig_kernel_def *k, const char *domain, const char *op, int opset)
{
    return !strcmp(k->op, op) && same_domain(k->domain, domain) && opset >= k->since &&
           (k->until == 0 || opset <= k->until);
}

bool ig_kernel_exists(const char *domain, const char *op, int opset)
{
    for (int g = 0; g < n_groups; g++)
        for (const ig_kernel_def *k = groups[g]; k->op; k++)
            if (matches(k, domain, op, opset)) return true;
    return false;
}

const ig_kernel_def *ig_kernel_next(const ig_kernel_def *prev, const char *domain, const char *op, int opset,
                                    ig_tensor *const *in, int n_in)
{
    bool started = prev == NULL;
    for (int g = 0; g < n_groups; g++) {
        for (const ig_kernel_def *k = groups[g]; k->op; k++) {
            if (!started) {
                started = k == prev;
                continue;
            }
            if (!matches(k, domain, op, opset)) continue;
            if (k->types) {
                const ig_tensor *t = k->type_input < n_in ? in[k->type_input] : NULL;
                if (!t || !(k->types & IG_TYPE(t->dtype))) continue;
            }
            return k;
        }
    }
    return NULL;
}

void ig_kernel_foreach_op(void (*f)(const char *domain, const char *op, void *ctx), void *ctx)
{
    for (int g = 0; g < n_groups; g++) {
        for (const ig_kernel_def *k = groups[g]; k->op; k++) {
            bool seen = false;
            for (int g2 = 0; g2 <= g && !seen; g2++)
                for (const ig_kernel_def *p = groups[g2]; p->op && p != k && !seen; p++)
                    seen = !strcmp(p->op, k->op) && same_domain(p->domain, k->domain);
            if (!seen) f(k->domain, k->op, ctx);
        }
    }
}
