/* metrics.h - classification metrics: top-1/top-5, confusion matrix, per-class
 * precision/recall/F1, macro-F1, mean loss; and tx_evaluate, which runs a model over a
 * dataset through the one preprocessing routine and the one executor. */
#ifndef TX_METRICS_H
#define TX_METRICS_H

#include "data/dataset.h"
#include "graph/graph.h"

typedef struct tx_metrics {
    int k;
    int64_t n, top1, top5;
    double loss_sum;        /* sum of -log p(label) */
    int64_t *confusion;     /* k*k: row = true class, column = predicted */
} tx_metrics;

int tx_metrics_init(tx_metrics *mt, int k, tx_err *err);
void tx_metrics_free(tx_metrics *mt);
/* probs [n,k] (softmax output), labels [n]. */
void tx_metrics_add(tx_metrics *mt, const float *probs, const int32_t *labels, int n);

typedef struct tx_class_stats {
    double precision, recall, f1;
    int64_t support;
} tx_class_stats;

void tx_metrics_class(const tx_metrics *mt, int c, tx_class_stats *out);
double tx_metrics_macro_f1(const tx_metrics *mt);
double tx_metrics_top1(const tx_metrics *mt);
double tx_metrics_top5(const tx_metrics *mt);
double tx_metrics_mean_loss(const tx_metrics *mt);

/* Progress callback: done of total samples. */
typedef void (*tx_progress_fn)(void *user, int64_t done, int64_t total);

/* Runs m over every sample of d (batches of `batch`) and fills mt (initialized here).
 * The model's class count must cover the dataset's labels. */
int tx_evaluate(const tx_model *m, const tx_dataset *d, int batch, tx_metrics *mt,
                tx_progress_fn progress, void *user, tx_err *err);

#endif
