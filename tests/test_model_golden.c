/* Whole models against PyTorch: the same network (tools/golden_model.py), the same
 * initial weights, three SGD steps (Nesterov momentum, weight decay, label smoothing):
 * logits, every gradient of the first step, and every parameter and running statistic
 * after the last step must agree. */
#include "testutil.h"

#include "graph/graph.h"
#include "io/safetensors.h"
#include "ops/ops.h"
#include "train/optim.h"

static const tx_st_tensor *need(const tx_safetensors *st, const char *name) {
    return tu_golden_find(st, name, TX_F32, -1, NULL);
}

static void check_arch(const char *arch) {
    char path[256];
    snprintf(path, sizeof path, "tests/golden/model_%s.safetensors", arch);
    tx_safetensors st;
    tx_err err = {0};
    CHECK_OK(tx_st_load(path, &st, &err), &err);
    int h = atoi(tx_st_meta_get(&st, "h")), batch = atoi(tx_st_meta_get(&st, "batch"));
    int classes = atoi(tx_st_meta_get(&st, "classes")), steps = atoi(tx_st_meta_get(&st, "steps"));
    float lr = (float)atof(tx_st_meta_get(&st, "lr")), wd = (float)atof(tx_st_meta_get(&st, "weight_decay"));
    float smooth = (float)atof(tx_st_meta_get(&st, "label_smoothing"));
    tx_model *m;
    CHECK_OK(tx_model_build(arch, h, h, 1, classes, 0, &m, &err), &err);
    char name[160];
    for (int i = 0; i < m->n_params; i++) {
        snprintf(name, sizeof name, "init.%s", m->params[i].name);
        const tx_st_tensor *t = need(&st, name);
        CHECK(t && t->nbytes == tx_tensor_nbytes(&m->params[i].t), "%s shape", name);
        if (t && t->nbytes == tx_tensor_nbytes(&m->params[i].t)) memcpy(m->params[i].t.data, t->data, t->nbytes);
    }
    const tx_st_tensor *x = need(&st, "input"), *y = tu_golden_find(&st, "labels", TX_I32, 1, NULL);
    const tx_st_tensor *l0 = need(&st, "logits0"), *le = need(&st, "eval_logits");
    if (!x || !y || !l0 || !le) { tu_failed_case = 1; tx_model_free(m); tx_st_free(&st); return; }
    tx_exec *e;
    CHECK_OK(tx_exec_create(m, batch, 1, 0, &e, &err), &err);
    tx_opt_config oc = {.kind = TX_OPT_SGD, .lr = lr, .momentum = 0.9f, .nesterov = 1, .weight_decay = wd,
                        .sched = TX_SCHED_CONSTANT, .total_steps = steps};
    tx_optimizer opt;
    CHECK_OK(tx_opt_create(&opt, m, &oc, &err), &err);
    float *probs = malloc(sizeof(float) * batch * classes), *dl = malloc(sizeof(float) * batch * classes);
    for (int s = 0; s < steps; s++) {
        const float *logits = tx_exec_forward(e, (const float *)x->data, batch);
        if (s == 0) CHECK(tu_close("logits step 0", logits, (const float *)l0->data, batch * classes, 1e-5f, 1e-4f), "logits");
        tx_softmax_xent_forward(probs, logits, (const int32_t *)y->data, batch, classes, smooth);
        tx_softmax_xent_backward(dl, probs, (const int32_t *)y->data, batch, classes, smooth);
        tx_exec_backward(e, dl);
        if (s == 0)
            for (int i = 0; i < m->n_params; i++) {
                if (!m->params[i].trainable) continue;
                snprintf(name, sizeof name, "grad0.%s", m->params[i].name);
                const tx_st_tensor *g = need(&st, name);
                CHECK(g && tu_close(name, tx_exec_param_grad(e, i), (const float *)g->data,
                                    (long)tx_tensor_numel(&m->params[i].t), 2e-5f, 1e-3f), "%s", name);
            }
        tx_opt_step(&opt, m, e);
    }
    for (int i = 0; i < m->n_params; i++) {
        snprintf(name, sizeof name, "final.%s", m->params[i].name);
        const tx_st_tensor *g = need(&st, name);
        CHECK(g && tu_close(name, m->params[i].t.data, (const float *)g->data,
                            (long)tx_tensor_numel(&m->params[i].t), 2e-5f, 1e-3f), "%s", name);
    }
    /* inference with the planned-memory executor and running statistics */
    tx_exec *ei;
    CHECK_OK(tx_exec_create(m, batch, 0, 0, &ei, &err), &err);
    const float *lo = tx_exec_forward(ei, (const float *)x->data, batch);
    CHECK(tu_close("eval logits after training", lo, (const float *)le->data, batch * classes, 1e-4f, 1e-3f), "eval");
    printf("  inference executor: %zu bytes (planned activations + scratch)\n", tx_exec_peak_bytes(ei));
    tx_exec_free(ei);
    free(probs);
    free(dl);
    tx_opt_free(&opt);
    tx_exec_free(e);
    tx_model_free(m);
    tx_st_free(&st);
}

static void test_small_cnn(void) { check_arch("small_cnn"); }
static void test_resnet8(void) { check_arch("resnet8"); }

int main(void) {
    RUN(test_small_cnn);
    RUN(test_resnet8);
    TEST_MAIN_END();
}
