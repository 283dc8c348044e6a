/* train.h - the training loop: data -> preprocessing + augmentation -> forward -> loss
 * -> backward -> optimizer, with validation each epoch, a JSONL log, atomic checkpoints
 * every epoch and resumption. Silent: progress goes through callbacks. */
#ifndef TX_TRAIN_H
#define TX_TRAIN_H

#include "data/loader.h"
#include "eval/metrics.h"
#include "train/optim.h"

typedef struct tx_train_progress {
    int epoch, epochs;            /* 1-based epoch in progress */
    int64_t step, steps_per_epoch, total_steps;
    int64_t done_in_epoch;        /* samples */
    double images_per_s, loss, lr, elapsed_s, eta_s;
} tx_train_progress;

typedef struct tx_epoch_report {
    int epoch, epochs;
    double train_loss, train_acc, val_top1, val_top5, val_loss, lr, seconds, images_per_s;
    int has_val;
} tx_epoch_report;

typedef struct tx_train_config {
    const char *arch;
    const char *data, *val;   /* dataset specs; val may be NULL */
    const char *out;          /* model path; checkpoint is OUT.ckpt, log OUT.jsonl unless log set */
    const char *log;
    int epochs, batch, threads, resume;
    int stop_after;           /* > 0: return after this many epochs in total, leaving the
                                 checkpoint for --resume (time-sliced jobs) */
    uint64_t seed;
    tx_opt_config opt;
    float warmup_epochs;
    float label_smoothing;
    tx_augment aug;
    float mean, std;          /* normalization (0/0: Fashion-MNIST's statistics for 1-channel data) */
    int image_size, channels; /* model input (0: the data's size / channels); images are
                                 resized / converted by the preprocessing */
    int eval_batch;
    /* callbacks (may be NULL) */
    void (*on_progress)(void *user, const tx_train_progress *p);
    void (*on_epoch)(void *user, const tx_epoch_report *r);
    void (*on_message)(void *user, const char *msg);
    void *user;
} tx_train_config;

void tx_train_config_default(tx_train_config *c);
int tx_train(const tx_train_config *c, tx_err *err);

#endif
