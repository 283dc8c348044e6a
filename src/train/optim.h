/* optim.h - optimizers (SGD with momentum/Nesterov, AdamW) and learning-rate schedules.
 * PyTorch semantics: SGD adds weight_decay*w to the gradient (coupled) before momentum;
 * AdamW decays the weights directly (decoupled), lr*wd*w. Weight decay applies to
 * parameters flagged `decay` (conv and linear weights), not to biases or BN. */
#ifndef TX_OPTIM_H
#define TX_OPTIM_H

#include "graph/graph.h"

typedef enum { TX_OPT_SGD = 0, TX_OPT_ADAMW = 1 } tx_opt_kind;
typedef enum { TX_SCHED_COSINE = 0, TX_SCHED_CONSTANT = 1, TX_SCHED_ONECYCLE = 2 } tx_sched_kind;

typedef struct tx_opt_config {
    tx_opt_kind kind;
    float lr, momentum, weight_decay;
    int nesterov;
    float beta1, beta2, eps;   /* AdamW */
    tx_sched_kind sched;
    int64_t warmup_steps, total_steps;
    float min_lr_ratio;        /* cosine floor as a fraction of lr */
} tx_opt_config;

typedef struct tx_optimizer {
    tx_opt_config cfg;
    int n;                /* = model params */
    float **m1, **m2;     /* momentum / Adam moments per trainable param (or NULL) */
    int64_t step;
} tx_optimizer;

int tx_opt_create(tx_optimizer *o, const tx_model *m, const tx_opt_config *cfg, tx_err *err);
void tx_opt_free(tx_optimizer *o);
float tx_opt_lr(const tx_opt_config *c, int64_t step);
/* One update with the gradients in e; returns the learning rate used. */
float tx_opt_step(tx_optimizer *o, tx_model *m, tx_exec *e);
const char *tx_opt_name(tx_opt_kind k);
const char *tx_sched_name(tx_sched_kind k);

#endif
