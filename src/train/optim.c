/* optim.c - SGD (momentum, Nesterov) and AdamW, with warmup + cosine / one-cycle. */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *tx_opt_name(tx_opt_kind k) { return k == TX_OPT_ADAMW ? "adamw" : "sgd"; }
const char *tx_sched_name(tx_sched_kind k) {
    return k == TX_SCHED_CONSTANT ? "constant" : k == TX_SCHED_ONECYCLE ? "onecycle" : "cosine";
}

int tx_opt_create(tx_optimizer *o, const tx_model *m, const tx_opt_config *cfg, tx_err *err) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = m->n_params;
    o->m1 = calloc((size_t)o->n + 1, sizeof(float *));
    o->m2 = calloc((size_t)o->n + 1, sizeof(float *));
    if (!o->m1 || !o->m2) goto nomem;
    for (int i = 0; i < o->n; i++) {
        if (!m->params[i].trainable) continue;
        size_t b = tx_tensor_nbytes(&m->params[i].t);
        if (!(o->m1[i] = tx_calloc(b))) goto nomem;
        if (cfg->kind == TX_OPT_ADAMW && !(o->m2[i] = tx_calloc(b))) goto nomem;
    }
    return TX_OK;
nomem:
    tx_opt_free(o);
    return tx_err_set(err, TX_ENOMEM, "out of memory (optimizer state)");
}

void tx_opt_free(tx_optimizer *o) {
    for (int i = 0; i < o->n && o->m1; i++) tx_free(o->m1[i]);
    for (int i = 0; i < o->n && o->m2; i++) tx_free(o->m2[i]);
    free(o->m1);
    free(o->m2);
    o->m1 = o->m2 = NULL;
}

float tx_opt_lr(const tx_opt_config *c, int64_t step) {
    double lr = c->lr, floor = c->lr * c->min_lr_ratio;
    int64_t T = c->total_steps > 0 ? c->total_steps : 1, W = c->warmup_steps;
    if (c->sched == TX_SCHED_CONSTANT) return step < W ? (float)(lr * (step + 1) / W) : (float)lr;
    if (c->sched == TX_SCHED_ONECYCLE) {
        /* linear warmup from lr/25 to lr over W (default 30% of T), then cosine to ~0 */
        if (W <= 0) W = (int64_t)(0.3 * T);
        if (step < W) return (float)(lr / 25 + (lr - lr / 25) * (double)step / (double)W);
        double t = (double)(step - W) / (double)(T - W > 0 ? T - W : 1);
        if (t > 1) t = 1;
        return (float)(floor + (lr - floor) * 0.5 * (1 + cos(M_PI * t)));
    }
    if (step < W) return (float)(lr * (double)(step + 1) / (double)W);
    double t = (double)(step - W) / (double)(T - W > 0 ? T - W : 1);
    if (t > 1) t = 1;
    return (float)(floor + (lr - floor) * 0.5 * (1 + cos(M_PI * t)));
}

float tx_opt_step(tx_optimizer *o, tx_model *m, tx_exec *e) {
    const tx_opt_config *c = &o->cfg;
    float lr = tx_opt_lr(c, o->step);
    o->step++;
    double bc1 = 1 - pow(c->beta1, (double)o->step), bc2 = 1 - pow(c->beta2, (double)o->step);
    for (int i = 0; i < o->n; i++) {
        tx_param *p = &m->params[i];
        float *g = tx_exec_param_grad(e, i);
        if (!p->trainable || !g) continue;
        float *w = p->t.data, *b1 = o->m1[i], *b2 = o->m2[i];
        int64_t n = tx_tensor_numel(&p->t);
        float wd = p->decay ? c->weight_decay : 0.0f;
        if (c->kind == TX_OPT_SGD) {
            float mu = c->momentum;
            int nest = c->nesterov;
            int first = o->step == 1;
            #pragma omp parallel for schedule(static) if (n > 65536)
            for (int64_t k = 0; k < n; k++) {
                float gk = g[k] + wd * w[k];
                if (mu != 0.0f) {
                    /* PyTorch: the first step initializes the buffer with the gradient */
                    b1[k] = first ? gk : mu * b1[k] + gk;
                    gk = nest ? gk + mu * b1[k] : b1[k];
                }
                w[k] -= lr * gk;
            }
        } else {
            float be1 = c->beta1, be2 = c->beta2, eps = c->eps;
            float s1 = (float)(1.0 / bc1), s2 = (float)(1.0 / sqrt(bc2));
            #pragma omp parallel for schedule(static) if (n > 65536)
            for (int64_t k = 0; k < n; k++) {
                w[k] -= lr * wd * w[k];
                b1[k] = be1 * b1[k] + (1 - be1) * g[k];
                b2[k] = be2 * b2[k] + (1 - be2) * g[k] * g[k];
                w[k] -= lr * (b1[k] * s1) / (sqrtf(b2[k]) * s2 + eps);
            }
        }
    }
    return lr;
}
