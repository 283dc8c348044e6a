/* archutil.h - small helpers shared by the architecture builders of vit.c and
 * convnext.c: parameter initializers, parameterless nodes with a name, and parsing of
 * PyTorch state-dict names. Header-only (static inline). */
#ifndef TX_MODELS_ARCHUTIL_H
#define TX_MODELS_ARCHUTIL_H

#include "models/models.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static inline float *ax_data(tx_model *m, int p) { return m->params[p].t.data; }
static inline int64_t ax_numel(const tx_model *m, int p) { return tx_tensor_numel(&m->params[p].t); }

/* timm's trunc_normal_(std, a = -2, b = 2): the cut is absolute, values outside it are
 * redrawn (for std .02 it is never reached) */
static inline void ax_trunc_normal(tx_model *m, int p, float std, tx_rng *r) {
    float *d = ax_data(m, p);
    for (int64_t i = 0; i < ax_numel(m, p); i++) {
        float v;
        do v = tx_rng_normal(r) * std;
        while (v < -2.0f || v > 2.0f);
        d[i] = v;
    }
}

static inline void ax_normal(tx_model *m, int p, float std, tx_rng *r) {
    float *d = ax_data(m, p);
    for (int64_t i = 0; i < ax_numel(m, p); i++) d[i] = tx_rng_normal(r) * std;
}

/* U(-bound, bound) */
static inline void ax_uniform(tx_model *m, int p, float bound, tx_rng *r) {
    float *d = ax_data(m, p);
    for (int64_t i = 0; i < ax_numel(m, p); i++) d[i] = (2.0f * tx_rng_uniform(r) - 1.0f) * bound;
}

static inline void ax_const(tx_model *m, int p, float v) {
    float *d = ax_data(m, p);
    for (int64_t i = 0; i < ax_numel(m, p); i++) d[i] = v;
}

/* A one-input node of kind op (no parameters) named `name`; p is the drop path rate. */
static inline int ax_node(tx_model *m, tx_op_kind op, int in, const char *name, float p,
                          tx_err *err) {
    tx_node nd = {.op = op, .n_in = 1, .in = {in}, .p = p};
    snprintf(nd.name, sizeof nd.name, "%s", name);
    return tx_g_node(m, &nd, err);
}

/* If s is prefix, a decimal number (no leading zeros) and '.', stores the number and
 * returns what follows the '.'; else NULL. */
static inline const char *ax_num_after(const char *s, const char *prefix, int *num) {
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n)) return NULL;
    s += n;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9')) return NULL;
    long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > 100000) return NULL;
    }
    if (*s != '.') return NULL;
    *num = (int)v;
    return s + 1;
}

static inline int ax_is_wb(const char *s) { return !strcmp(s, "weight") || !strcmp(s, "bias"); }

/* "<prefix>weight" or "<prefix>bias" */
static inline int ax_is_pwb(const char *s, const char *prefix) {
    size_t l = strlen(prefix);
    return !strncmp(s, prefix, l) && ax_is_wb(s + l);
}

/* vsnprintf into out: 1 (the rename result "mapped"), or -1 when it does not fit */
static inline int ax_put(char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int ax_put(char *out, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    return k < 0 || (size_t)k >= n ? -1 : 1;
}

#define AX_TRY(x)                            \
    do {                                     \
        if ((cur = (x)) < 0) return cur;     \
    } while (0)

#endif
