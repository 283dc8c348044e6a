/* metrics.c - accumulating and summarizing classification results. */
#include "eval/metrics.h"
#include "data/loader.h"
#include "ops/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tx_metrics_init(tx_metrics *mt, int k, tx_err *err) {
    memset(mt, 0, sizeof *mt);
    mt->k = k;
    mt->confusion = calloc((size_t)k * (size_t)k, sizeof(int64_t));
    if (!mt->confusion) return tx_err_set(err, TX_ENOMEM, "out of memory (confusion matrix %dx%d)", k, k);
    return TX_OK;
}

void tx_metrics_free(tx_metrics *mt) {
    free(mt->confusion);
    mt->confusion = NULL;
}

void tx_metrics_add(tx_metrics *mt, const float *probs, const int32_t *labels, int n) {
    int k = mt->k;
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * k;
        int y = labels[i];
        /* rank of the true class: classes with a higher score, ties broken by index */
        int best = 0, above = 0;
        for (int j = 0; j < k; j++) {
            if (p[j] > p[best]) best = j;
            if (p[j] > p[y] || (p[j] == p[y] && j < y)) above++;
        }
        mt->n++;
        mt->top1 += best == y;
        mt->top5 += above < 5;
        double py = p[y] > 1e-30f ? p[y] : 1e-30;
        mt->loss_sum += -log(py);
        mt->confusion[(size_t)y * k + best]++;
    }
}

void tx_metrics_class(const tx_metrics *mt, int c, tx_class_stats *s) {
    int64_t tp = mt->confusion[(size_t)c * mt->k + c], pred = 0, actual = 0;
    for (int j = 0; j < mt->k; j++) {
        pred += mt->confusion[(size_t)j * mt->k + c];
        actual += mt->confusion[(size_t)c * mt->k + j];
    }
    s->support = actual;
    s->precision = pred ? (double)tp / (double)pred : 0.0;
    s->recall = actual ? (double)tp / (double)actual : 0.0;
    s->f1 = (s->precision + s->recall) > 0 ? 2 * s->precision * s->recall / (s->precision + s->recall) : 0.0;
}

double tx_metrics_macro_f1(const tx_metrics *mt) {
    double sum = 0;
    int counted = 0;
    for (int c = 0; c < mt->k; c++) {
        tx_class_stats s;
        tx_metrics_class(mt, c, &s);
        /* classes absent from both the labels and the predictions do not count */
        int64_t pred = 0;
        for (int j = 0; j < mt->k; j++) pred += mt->confusion[(size_t)j * mt->k + c];
        if (s.support == 0 && pred == 0) continue;
        sum += s.f1;
        counted++;
    }
    return counted ? sum / counted : 0.0;
}

double tx_metrics_top1(const tx_metrics *mt) { return mt->n ? (double)mt->top1 / (double)mt->n : 0; }
double tx_metrics_top5(const tx_metrics *mt) { return mt->n ? (double)mt->top5 / (double)mt->n : 0; }
double tx_metrics_mean_loss(const tx_metrics *mt) { return mt->n ? mt->loss_sum / (double)mt->n : 0; }

int tx_evaluate(const tx_model *m, const tx_dataset *d, int batch, tx_metrics *mt,
                tx_progress_fn progress, void *user, tx_err *err) {
    int k = m->num_classes;
    if (d->num_classes > k)
        return tx_err_set(err, TX_EINVAL, "%s has labels up to %d but the model has %d classes",
                          d->name, d->num_classes - 1, k);
    if (batch < 1) batch = 1;
    int rc = tx_metrics_init(mt, k, err);
    if (rc) return rc;
    tx_exec *e;
    /* inference never writes the model */
    if ((rc = tx_exec_create((tx_model *)m, batch, 0, 0, &e, err))) return rc;
    size_t plane = (size_t)m->pp.height * m->pp.width * m->pp.channels;
    int in8 = m->nodes[0].dtype != TX_F32; /* quantized input: pixel bytes */
    float *in = tx_alloc((size_t)batch * plane * (in8 ? 1 : sizeof(float)));
    float *probs = tx_alloc((size_t)batch * k * sizeof(float));
    int64_t *idx = malloc((size_t)batch * sizeof(int64_t));
    if (!in || !probs || !idx) {
        rc = tx_err_set(err, TX_ENOMEM, "out of memory (evaluation batch)");
        goto done;
    }
    for (int64_t s = 0; s < d->n; s += batch) {
        int n = (int)(d->n - s < batch ? d->n - s : batch);
        for (int i = 0; i < n; i++) idx[i] = s + i;
        if (in8) rc = tx_load_batch_u8((uint8_t *)in, d, idx, n, &m->pp, m->nodes[0].dtype == TX_I8, err);
        else rc = tx_load_batch(in, d, idx, n, &m->pp, NULL, 0, 0, err);
        if (rc) goto done;
        const float *logits = tx_exec_forward(e, in, n);
        if (m->output_probs) memcpy(probs, logits, (size_t)n * k * sizeof(float));
        else tx_softmax_forward(probs, logits, n, k);
        tx_metrics_add(mt, probs, d->labels + s, n);
        if (progress) progress(user, s + n, d->n);
    }
done:
    tx_free(in);
    tx_free(probs);
    free(idx);
    tx_exec_free(e);
    if (rc) tx_metrics_free(mt);
    return rc;
}
