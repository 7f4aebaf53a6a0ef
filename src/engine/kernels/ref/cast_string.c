/* Cast and CastLike to STRING: numbers formatted as numpy's str() does (shortest digits that read
 * back to the same value; positional between 1e-4 and 1e16, else scientific). The kernel allocates
 * its output at run time because the text's length is only known then. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/elementwise.h"
#include "engine/kernels/ref/dtype_convert.h"

enum { MAX_TEXT = 32 };

/* Python-style repr of v (float precision when is_float) into buf; returns the length. */
static int format_number(double v, bool is_float, char *buf)
{
    if (isnan(v)) return snprintf(buf, MAX_TEXT, "nan");
    if (isinf(v)) return snprintf(buf, MAX_TEXT, v < 0 ? "-inf" : "inf");
    char e[MAX_TEXT];
    int p;
    for (p = 1; p < 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        double back = strtod(e, NULL);
        if (is_float ? (float)back == (float)v : back == v) break;
    }
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    /* e is [-]d[.ddd]e[+-]XX: split into sign, digits and exponent */
    char digits[MAX_TEXT];
    int nd = 0, neg = e[0] == '-';
    const char *c = e + neg;
    for (; *c && *c != 'e'; c++)
        if (*c != '.') digits[nd++] = *c;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int exp10 = atoi(c + 1);
    int o = 0;
    if (neg) buf[o++] = '-';
    if (exp10 < -4 || exp10 >= 16) {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (int i = 1; i < nd; i++) buf[o++] = digits[i];
        }
        o += snprintf(buf + o, (size_t)(MAX_TEXT - o), "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
        return o;
    }
    if (exp10 < 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = -1; i > exp10; i--) buf[o++] = '0';
        for (int i = 0; i < nd; i++) buf[o++] = digits[i];
    } else {
        for (int i = 0; i <= exp10; i++) buf[o++] = i < nd ? digits[i] : '0';
        buf[o++] = '.';
        if (nd > exp10 + 1)
            for (int i = exp10 + 1; i < nd; i++) buf[o++] = digits[i];
        else
            buf[o++] = '0';
    }
    buf[o] = 0;
    return o;
}

static bool is_integer(ig_dtype dt)
{
    return dt != IG_DT_FLOAT && dt != IG_DT_DOUBLE && dt != IG_DT_FLOAT16 && dt != IG_DT_BFLOAT16;
}

int ig__ew_run_cast_string(ig_kstep *s)
{
    if (s->n_in < 1 || !s->in[0] || s->n_out < 1 || !s->out[0]) return IG_EINVAL;
    const ig_tensor *x = s->in[0];
    int64_t n = ig_tensor_numel(x);
    if (n < 0 || (uint64_t)n > SIZE_MAX / MAX_TEXT) return IG_EOVERFLOW;
    int64_t text_dims[1] = {n * MAX_TEXT};
    int rc = ig_kstep_alloc_output(s, 0, IG_DT_UINT8, 1, text_dims);
    if (rc) return rc;
    char *text = s->out[0]->data;
    if ((rc = ig_kstep_alloc_output(s, 0, IG_DT_STRING, x->ndim, x->dims))) return rc;
    ig_string *out = s->out[0]->data;
    for (int64_t i = 0; i < n; i++) {
        char *b = text + i * MAX_TEXT;
        int len;
        if (x->dtype == IG_DT_INT64) {
            len = snprintf(b, MAX_TEXT, "%lld", (long long)((const int64_t *)x->data)[i]);
        } else if (x->dtype == IG_DT_UINT64) {
            len = snprintf(b, MAX_TEXT, "%llu", (unsigned long long)((const uint64_t *)x->data)[i]);
        } else if (x->dtype == IG_DT_BOOL) {
            len = snprintf(b, MAX_TEXT, "%s", ((const uint8_t *)x->data)[i] ? "True" : "False");
        } else {
            if (!ig__dtype_is_real(x->dtype)) return IG_EUNSUPPORTED;
            double v = ig__load_f64(x->data, x->dtype, i);
            len = is_integer(x->dtype) ? snprintf(b, MAX_TEXT, "%.0f", v)
                                       : format_number(v, x->dtype != IG_DT_DOUBLE, b);
        }
        out[i].ptr = b;
        out[i].len = (size_t)len;
    }
    return 0;
}
