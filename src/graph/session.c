/* session.c - the public prediction API: a shared immutable model, one session per
 * caller, files -> the model's preprocessing -> executor -> softmax -> top-k. */
#include "graph/graph.h"
#include "data/image.h"
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

struct tx_session {
    const tx_model *m;
    tx_exec *e;
    float *in, *probs;
};

int tx_session_create(const tx_model *m, tx_session **out, tx_err *err) {
    *out = NULL;
    tx_session *s = calloc(1, sizeof *s);
    if (!s) return tx_err_set(err, TX_ENOMEM, "out of memory");
    s->m = m;
    /* an inference executor only reads the model */
    int rc = tx_exec_create((tx_model *)m, 1, 0, 0, &s->e, err);
    if (rc) { free(s); return rc; }
    s->in = tx_alloc((size_t)m->pp.height * m->pp.width * m->pp.channels * sizeof(float));
    s->probs = tx_alloc((size_t)m->num_classes * sizeof(float));
    if (!s->in || !s->probs) {
        tx_session_free(s);
        return tx_err_set(err, TX_ENOMEM, "out of memory");
    }
    *out = s;
    return TX_OK;
}

void tx_session_free(tx_session *s) {
    if (!s) return;
    tx_exec_free(s->e);
    tx_free(s->in);
    tx_free(s->probs);
    free(s);
}

void tx_topk(const float *p, int n, int k, tx_prediction *out) {
    if (k > n) k = n;
    for (int i = 0; i < k; i++) out[i].index = -1;
    for (int j = 0; j < n; j++) {
        /* insert j if it beats the current k-th (strictly greater: ties keep lower index) */
        int pos = k;
        while (pos > 0 && (out[pos - 1].index < 0 || p[j] > out[pos - 1].score)) pos--;
        if (pos >= k) continue;
        memmove(out + pos + 1, out + pos, (size_t)(k - pos - 1) * sizeof *out);
        out[pos].index = j;
        out[pos].score = p[j];
    }
}

int tx_predict_file(tx_session *s, const char *path, int k, tx_prediction *out, int *n_out,
                    tx_err *err) {
    const tx_model *m = s->m;
    tx_image img;
    int rc = tx_image_load(path, m->pp.channels, &img, err);
    if (rc) return rc;
    rc = tx_preprocess(s->in, &img, &m->pp, err);
    tx_image_free(&img);
    if (rc) return tx_err_prefix(err, rc, "%s", path);
    const float *logits = tx_exec_forward(s->e, s->in, 1);
    tx_softmax_forward(s->probs, logits, 1, m->num_classes);
    if (k < 1) k = 1;
    if (k > m->num_classes) k = m->num_classes;
    tx_topk(s->probs, m->num_classes, k, out);
    *n_out = k;
    return TX_OK;
}
