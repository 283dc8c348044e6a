/* train.c - `taxon train`. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/train.h"

typedef struct {
    cli_bar bar;
    int json;
} train_ui;

static void on_progress(void *user, const tx_train_progress *p) {
    train_ui *u = user;
    char eta[32], text[256];
    cli_fmt_duration(eta, sizeof eta, p->eta_s);
    snprintf(text, sizeof text, "epoch %d/%d  %.0f img/s  loss %.4f  lr %.4g  left %s", p->epoch,
             p->epochs, p->images_per_s, p->loss, p->lr, eta);
    cli_bar_draw(&u->bar, (double)p->step / (double)p->steps_per_epoch, text);
}

static void on_epoch(void *user, const tx_epoch_report *r) {
    train_ui *u = user;
    cli_bar_done(&u->bar);
    fprintf(stderr, "epoch %d/%d  train loss %.4f acc %.2f%%", r->epoch, r->epochs, r->train_loss,
            100 * r->train_acc);
    if (r->has_val)
        fprintf(stderr, "  val top-1 %.2f%% top-5 %.2f%% loss %.4f", 100 * r->val_top1, 100 * r->val_top5,
                r->val_loss);
    fprintf(stderr, "  %.0f img/s  %.1fs\n", r->images_per_s, r->seconds);
}

static void on_message(void *user, const char *msg) {
    (void)user;
    fprintf(stderr, "taxon train: %s\n", msg);
}

int cmd_train(int argc, char **argv) {
    tx_train_config c;
    tx_train_config_default(&c);
    const char *opt = "sgd", *sched = "cosine";
    int no_nesterov = 0, no_flip = 0;
    float momentum = -1;
    c.opt.lr = -1;            /* defaults depend on the optimizer */
    c.opt.weight_decay = -1;
    cli_opt opts[] = {
        {"data", OPT_STR, &c.data, "SPEC", "training data: fashion-mnist:train, or a folder of IDX files"},
        {"val", OPT_STR, &c.val, "SPEC", "validation data, evaluated after every epoch"},
        {"arch", OPT_STR, &c.arch, "NAME", "architecture (default fmnist_net; a wrong name lists them all)"},
        {"image-size", OPT_INT, &c.image_size, "S", "train at S x S (images are resized; default: the data's size)"},
        {"channels", OPT_INT, &c.channels, "C", "model input channels, 1 or 3 (default: the data's)"},
        {"out", OPT_STR, &c.out, "FILE", "where to write the model (.safetensors)"},
        {"epochs", OPT_INT, &c.epochs, "N", "epochs (default 10)"},
        {"batch-size", OPT_INT, &c.batch, "N", "batch size (default 128)"},
        {"lr", OPT_FLOAT, &c.opt.lr, "X", "peak learning rate (default 0.1 for sgd, 1e-3 for adamw)"},
        {"optimizer", OPT_STR, &opt, "NAME", "sgd (default, momentum 0.9, Nesterov) or adamw"},
        {"momentum", OPT_FLOAT, &momentum, "X", "SGD momentum (default 0.9)"},
        {"no-nesterov", OPT_FLAG, &no_nesterov, NULL, "plain momentum instead of Nesterov's"},
        {"weight-decay", OPT_FLOAT, &c.opt.weight_decay, "X", "weight decay on conv/linear weights (default 5e-4 for sgd, 0.05 for adamw)"},
        {"schedule", OPT_STR, &sched, "NAME", "cosine (default), onecycle or constant"},
        {"warmup", OPT_FLOAT, &c.warmup_epochs, "EPOCHS", "linear warmup length in epochs (default 1)"},
        {"label-smoothing", OPT_FLOAT, &c.label_smoothing, "X", "label smoothing (default 0.1)"},
        {"crop-pad", OPT_INT, &c.aug.crop_pad, "PX", "random crop after padding by PX (default 2, 0 = off)"},
        {"no-flip", OPT_FLAG, &no_flip, NULL, "no random horizontal flips"},
        {"erase", OPT_FLOAT, &c.aug.erase_p, "P", "random erasing probability (default 0)"},
        {"seed", OPT_U64, &c.seed, "N", "random seed (default 1): same seed + threads = same model"},
        {"threads", OPT_INT, &c.threads, "N", "threads (default: all cores)"},
        {"resume", OPT_FLAG, &c.resume, NULL, "continue from OUT.ckpt if a previous run left one"},
        {"stop-after", OPT_INT, &c.stop_after, "N", "stop after N epochs, keeping the checkpoint for --resume"},
        {"log", OPT_STR, &c.log, "FILE", "JSONL log of every epoch (default OUT.jsonl)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    cli_cmd cmd = {"train", "--data SPEC --out FILE [options]",
                   "Train a classifier. Shows a progress bar, logs validation accuracy every epoch,\n"
                   "checkpoints atomically to OUT.ckpt after every epoch (--resume continues from it)\n"
                   "and writes the model with its classes, preprocessing and provenance to OUT.",
                   "example:\n  taxon train --data fashion-mnist:train --val fashion-mnist:test \\\n"
                   "              --arch fmnist_net --epochs 10 --out fmnist.safetensors",
                   opts};
    char **pos;
    int npos, rc = cli_parse(&cmd, argc, argv, &pos, &npos);
    if (rc) { free(pos); return rc == 1 ? 0 : 2; }
    if (npos) {
        fprintf(stderr, "taxon train: error: unexpected argument '%s' (see taxon train --help)\n", pos[0]);
        free(pos);
        return 2;
    }
    free(pos);
    if (!c.data || !c.out) {
        fprintf(stderr, "taxon train: error: --data and --out are required\n"
                        "  e.g. taxon train --data fashion-mnist:train --val fashion-mnist:test --out model.safetensors\n");
        return 2;
    }
    if (!strcmp(opt, "sgd")) c.opt.kind = TX_OPT_SGD;
    else if (!strcmp(opt, "adamw")) c.opt.kind = TX_OPT_ADAMW;
    else {
        fprintf(stderr, "taxon train: error: --optimizer must be sgd or adamw, not '%s'\n", opt);
        return 2;
    }
    if (!strcmp(sched, "cosine")) c.opt.sched = TX_SCHED_COSINE;
    else if (!strcmp(sched, "onecycle")) c.opt.sched = TX_SCHED_ONECYCLE;
    else if (!strcmp(sched, "constant")) c.opt.sched = TX_SCHED_CONSTANT;
    else {
        fprintf(stderr, "taxon train: error: --schedule must be cosine, onecycle or constant, not '%s'\n", sched);
        return 2;
    }
    int adamw = c.opt.kind == TX_OPT_ADAMW;
    if (c.opt.lr == -1) c.opt.lr = adamw ? 1e-3f : 0.1f;
    if (c.opt.weight_decay == -1) c.opt.weight_decay = adamw ? 0.05f : 5e-4f;
    if (momentum >= 0) c.opt.momentum = momentum;
    if (no_nesterov) c.opt.nesterov = 0;
    if (no_flip) c.aug.hflip = 0;
    if (!(c.opt.lr > 0) || c.label_smoothing < 0 || c.label_smoothing >= 1 || c.aug.crop_pad < 0 ||
        c.aug.erase_p < 0 || c.aug.erase_p > 1 || c.warmup_epochs < 0 || c.opt.weight_decay < 0) {
        fprintf(stderr, "taxon train: error: --lr must be > 0, --label-smoothing in [0,1), --erase in [0,1], "
                        "--crop-pad/--warmup/--weight-decay >= 0\n");
        return 2;
    }
    cli_set_threads(c.threads);
    if (c.threads <= 0) c.threads = omp_get_max_threads();
    train_ui ui = {0};
    cli_bar_init(&ui.bar);
    c.on_progress = on_progress;
    c.on_epoch = on_epoch;
    c.on_message = on_message;
    c.user = &ui;
    tx_err err = {0};
    if (tx_train(&c, &err)) {
        cli_bar_done(&ui.bar);
        return cli_fail("train", &err);
    }
    if (c.stop_after > 0 && c.stop_after < c.epochs) return 0;
    fprintf(stderr, "taxon train: wrote %s (log %s%s)\n", c.out, c.log ? c.log : c.out, c.log ? "" : ".jsonl");
    return 0;
}
