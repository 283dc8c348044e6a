/* Optimizers against PyTorch (tools/golden_optim.py: 5 steps of SGD, SGD with momentum
 * and weight decay, Nesterov, AdamW on one parameter) and the learning-rate schedules'
 * shape (warmup ramps, cosine ends at the floor, one-cycle peaks at the end of warmup). */
#include "testutil.h"

#include "graph/graph.h"
#include "io/safetensors.h"
#include "train/optim.h"

static void run_case(const tx_safetensors *st, const char *name, tx_opt_config oc) {
    const tx_st_tensor *w0 = tx_st_find(st, "w0"), *g = tx_st_find(st, "grads"), *want = tx_st_find(st, name);
    CHECK(w0 && g && want, "golden tensors missing for %s", name);
    if (!w0 || !g || !want) return;
    int n = (int)w0->shape[0], steps = (int)g->shape[0];
    tx_err err = {0};
    /* a one-parameter model: linear n -> 1 without bias has weight [1, n] */
    tx_model *m = tx_model_new("opt");
    int in = tx_g_input(m, 1, 1, n, &err);
    tx_g_linear(m, in, "p", 1, 0, &err);
    m->num_classes = 1;
    memcpy(m->params[0].t.data, w0->data, (size_t)n * 4);
    tx_exec *e;
    CHECK_OK(tx_exec_create(m, 1, 1, 0, &e, &err), &err);
    tx_optimizer o;
    oc.sched = TX_SCHED_CONSTANT;
    oc.total_steps = steps;
    CHECK_OK(tx_opt_create(&o, m, &oc, &err), &err);
    for (int s = 0; s < steps; s++) {
        memcpy(tx_exec_param_grad(e, 0), (const float *)g->data + (size_t)s * n, (size_t)n * 4);
        tx_opt_step(&o, m, e);
    }
    char what[64];
    snprintf(what, sizeof what, "%s after %d steps", name, steps);
    CHECK(tu_close(what, m->params[0].t.data, (const float *)want->data, n, 1e-6f, 1e-5f), "%s", name);
    tx_opt_free(&o);
    tx_exec_free(e);
    tx_model_free(m);
}

static void test_against_pytorch(void) {
    tx_safetensors st;
    tx_err err = {0};
    CHECK_OK(tx_st_load("tests/golden/optim.safetensors", &st, &err), &err);
    run_case(&st, "sgd", (tx_opt_config){.kind = TX_OPT_SGD, .lr = 0.1f});
    run_case(&st, "sgd_mom_wd", (tx_opt_config){.kind = TX_OPT_SGD, .lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f});
    run_case(&st, "sgd_nesterov_wd",
             (tx_opt_config){.kind = TX_OPT_SGD, .lr = 0.05f, .momentum = 0.9f, .nesterov = 1, .weight_decay = 1e-3f});
    run_case(&st, "adamw", (tx_opt_config){.kind = TX_OPT_ADAMW, .lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f,
                                           .eps = 1e-8f, .weight_decay = 0.05f});
    tx_st_free(&st);
}

static void test_schedules(void) {
    tx_opt_config c = {.lr = 0.2f, .sched = TX_SCHED_COSINE, .warmup_steps = 10, .total_steps = 100};
    CHECK(fabsf(tx_opt_lr(&c, 0) - 0.02f) < 1e-7f, "cosine warmup starts at lr/W: %g", tx_opt_lr(&c, 0));
    CHECK(fabsf(tx_opt_lr(&c, 9) - 0.2f) < 1e-7f, "warmup ends at lr: %g", tx_opt_lr(&c, 9));
    CHECK(tx_opt_lr(&c, 55) < tx_opt_lr(&c, 20) && tx_opt_lr(&c, 99) < 1e-3f, "cosine decays to ~0: %g", tx_opt_lr(&c, 99));
    c.min_lr_ratio = 0.1f;
    CHECK(fabsf(tx_opt_lr(&c, 100) - 0.02f) < 1e-6f, "cosine floor %g", tx_opt_lr(&c, 100));
    c = (tx_opt_config){.lr = 0.2f, .sched = TX_SCHED_ONECYCLE, .warmup_steps = 30, .total_steps = 100};
    CHECK(fabsf(tx_opt_lr(&c, 0) - 0.2f / 25) < 1e-7f, "one-cycle starts at lr/25: %g", tx_opt_lr(&c, 0));
    CHECK(fabsf(tx_opt_lr(&c, 30) - 0.2f) < 1e-6f, "one-cycle peaks after warmup: %g", tx_opt_lr(&c, 30));
    CHECK(tx_opt_lr(&c, 99) < 1e-3f, "one-cycle ends near 0: %g", tx_opt_lr(&c, 99));
    c = (tx_opt_config){.lr = 0.3f, .sched = TX_SCHED_CONSTANT, .total_steps = 10};
    CHECK(tx_opt_lr(&c, 7) == 0.3f, "constant %g", tx_opt_lr(&c, 7));
    printf("  lr samples: cosine(55)=%.4f onecycle(65)=%.4f\n",
           tx_opt_lr(&(tx_opt_config){.lr = 0.2f, .sched = TX_SCHED_COSINE, .warmup_steps = 10, .total_steps = 100}, 55),
           tx_opt_lr(&(tx_opt_config){.lr = 0.2f, .sched = TX_SCHED_ONECYCLE, .warmup_steps = 30, .total_steps = 100}, 65));
}

int main(void) {
    RUN(test_against_pytorch);
    RUN(test_schedules);
    TEST_MAIN_END();
}
