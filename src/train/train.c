/* train.c - the training loop, checkpoints and resumption. */
#include "train/train.h"
#include "graph/modelio.h"
#include "io/safetensors.h"
#include "ops/ops.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void tx_train_config_default(tx_train_config *c) {
    memset(c, 0, sizeof *c);
    c->arch = "fmnist_net";
    c->epochs = 10;
    c->batch = 128;
    c->threads = 0;
    c->seed = 1;
    c->opt.kind = TX_OPT_SGD;
    c->opt.lr = 0.1f;
    c->opt.momentum = 0.9f;
    c->opt.nesterov = 1;
    c->opt.weight_decay = 5e-4f;
    c->opt.beta1 = 0.9f;
    c->opt.beta2 = 0.999f;
    c->opt.eps = 1e-8f;
    c->opt.sched = TX_SCHED_COSINE;
    c->warmup_epochs = 1;
    c->label_smoothing = 0.1f;
    c->aug.crop_pad = 2;
    c->aug.hflip = 1;
    c->aug.erase_p = 0.0f;
    c->eval_batch = 256;
}

static uint64_t mix2(uint64_t a, uint64_t b) {
    uint64_t x = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x7f4a7c159e3779b9ULL) * 0xbf58476d1ce4e5b9ULL;
    return x ^ (x >> 29);
}

static void msg(const tx_train_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg(const tx_train_config *c, const char *fmt, ...) {
    if (!c->on_message) return;
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    c->on_message(c->user, b);
}

/* A float as the shortest decimal that reads back the same (0.1, not 0.10000000149). */
static double dec(float f) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)f);
    return strtod(b, NULL);
}

static cJSON *recipe_json(const tx_train_config *c) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "arch", c->arch);
    cJSON_AddNumberToObject(r, "epochs", c->epochs);
    cJSON_AddNumberToObject(r, "batch_size", c->batch);
    cJSON_AddStringToObject(r, "optimizer", tx_opt_name(c->opt.kind));
    cJSON_AddNumberToObject(r, "lr", dec(c->opt.lr));
    cJSON_AddNumberToObject(r, "momentum", dec(c->opt.momentum));
    cJSON_AddBoolToObject(r, "nesterov", c->opt.nesterov);
    cJSON_AddNumberToObject(r, "weight_decay", dec(c->opt.weight_decay));
    if (c->opt.kind == TX_OPT_ADAMW) {
        cJSON_AddNumberToObject(r, "beta1", dec(c->opt.beta1));
        cJSON_AddNumberToObject(r, "beta2", dec(c->opt.beta2));
    }
    cJSON_AddStringToObject(r, "schedule", tx_sched_name(c->opt.sched));
    cJSON_AddNumberToObject(r, "warmup_epochs", dec(c->warmup_epochs));
    cJSON_AddNumberToObject(r, "label_smoothing", dec(c->label_smoothing));
    cJSON_AddNumberToObject(r, "aug_crop_pad", c->aug.crop_pad);
    cJSON_AddBoolToObject(r, "aug_hflip", c->aug.hflip);
    cJSON_AddNumberToObject(r, "aug_erase", dec(c->aug.erase_p));
    cJSON_AddNumberToObject(r, "seed", (double)c->seed);
    cJSON_AddNumberToObject(r, "threads", c->threads);
    return r;
}

static void iso_date(char *b, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(b, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- checkpoints: model tensors + "opt.m1.<param>" / "opt.m2.<param>" + state JSON ---- */

static int save_checkpoint(const char *path, const tx_model *m, const tx_optimizer *o,
                           int epoch_done, double elapsed, cJSON *history, tx_err *err) {
    tx_st_tensor *t;
    int n, rc = tx_model_tensors(m, &t, &n, err);
    if (rc) return rc;
    tx_st_tensor *all = calloc((size_t)n * 3 + 1, sizeof *all);
    char **names = calloc((size_t)n * 2 + 1, sizeof(char *));
    if (!all || !names) { free(t); free(all); free(names); return tx_err_set(err, TX_ENOMEM, "out of memory"); }
    memcpy(all, t, (size_t)n * sizeof *t);
    int k = n, nn = 0;
    for (int i = 0; i < n; i++) {
        for (int which = 0; which < 2; which++) {
            float *buf = which ? o->m2[i] : o->m1[i];
            if (!buf) continue;
            size_t len = strlen(m->params[i].name) + 8;
            names[nn] = malloc(len);
            if (!names[nn]) continue;
            snprintf(names[nn], len, "opt.m%d.%s", which + 1, m->params[i].name);
            all[k] = t[i];
            all[k].name = names[nn++];
            all[k].data = (const uint8_t *)buf;
            k++;
        }
    }
    char *meta = tx_model_meta_json(m);
    cJSON *st = cJSON_CreateObject();
    cJSON_AddNumberToObject(st, "epoch", epoch_done);
    cJSON_AddNumberToObject(st, "step", (double)o->step);
    cJSON_AddNumberToObject(st, "elapsed_s", elapsed);
    cJSON_AddItemToObject(st, "history", cJSON_Duplicate(history, 1));
    char *state = cJSON_PrintUnformatted(st);
    cJSON_Delete(st);
    tx_st_meta kv[2] = {{.key = "taxon", .value = meta}, {.key = "checkpoint", .value = state}};
    rc = (meta && state) ? tx_st_write(path, all, k, kv, 2, err)
                         : tx_err_set(err, TX_ENOMEM, "out of memory");
    free(meta);
    free(state);
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    free(all);
    free(t);
    return rc;
}

static int load_checkpoint(const char *path, tx_model **m, tx_optimizer *o,
                           const tx_opt_config *oc, int *epoch_done, double *elapsed,
                           cJSON **history, tx_err *err) {
    tx_safetensors st;
    int rc = tx_st_load(path, &st, err);
    if (rc) return rc;
    rc = tx_model_from_st(&st, path, "opt.", m, err);
    if (rc) { tx_st_free(&st); return rc; }
    const char *s = tx_st_meta_get(&st, "checkpoint");
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(j, "epoch");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
    const cJSON *el = cJSON_GetObjectItemCaseSensitive(j, "elapsed_s");
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(j, "history");
    if (!cJSON_IsNumber(ep) || !cJSON_IsNumber(step) || !cJSON_IsArray(hist)) {
        rc = tx_err_set(err, TX_EFORMAT, "%s: checkpoint state (epoch, step, history) missing or malformed", path);
        goto done;
    }
    if ((rc = tx_opt_create(o, *m, oc, err))) goto done;
    o->step = (int64_t)step->valuedouble;
    *epoch_done = ep->valueint;
    *elapsed = cJSON_IsNumber(el) ? el->valuedouble : 0;
    *history = cJSON_Duplicate(hist, 1);
    for (int i = 0; i < (*m)->n_params; i++) {
        for (int which = 0; which < 2; which++) {
            float *buf = which ? o->m2[i] : o->m1[i];
            if (!buf) continue;
            char name[128];
            snprintf(name, sizeof name, "opt.m%d.%s", which + 1, (*m)->params[i].name);
            const tx_st_tensor *t = tx_st_find(&st, name);
            size_t want = tx_tensor_nbytes(&(*m)->params[i].t);
            if (!t || t->dtype != TX_F32 || t->nbytes != want) {
                rc = tx_err_set(err, TX_EFORMAT, "%s: optimizer state '%s' missing or of the wrong size "
                                "(was the run started with another optimizer?)", path, name);
                goto done;
            }
            memcpy(buf, t->data, want);
        }
    }
done:
    cJSON_Delete(j);
    tx_st_free(&st);
    if (rc) {
        tx_opt_free(o);
        tx_model_free(*m);
        *m = NULL;
    }
    return rc;
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

int tx_train(const tx_train_config *c, tx_err *err) {
    int rc = TX_OK;
    tx_dataset train = {0}, val = {0};
    tx_model *m = NULL;
    tx_exec *e = NULL;
    tx_optimizer opt = {0};
    int have_opt = 0;
    cJSON *history = NULL;
    float *in = NULL, *probs = NULL, *dlogits = NULL;
    int64_t *perm = NULL, *idx = NULL;
    int32_t *labels = NULL;
    FILE *log = NULL;
    char ckpt[4096], logpath[4096];

    if (!c->out || !c->data) return tx_err_set(err, TX_EINVAL, "training needs --data and --out");
    if (c->epochs < 1 || c->batch < 2)
        return tx_err_set(err, TX_EINVAL, "--epochs must be >= 1 and --batch-size >= 2 (got %d, %d)", c->epochs, c->batch);
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", c->out);
    snprintf(logpath, sizeof logpath, "%s", c->log ? c->log : "");
    if (!c->log) snprintf(logpath, sizeof logpath, "%s.jsonl", c->out);

    if ((rc = tx_dataset_open(c->data, &train, err))) goto done;
    if (c->val && (rc = tx_dataset_open(c->val, &val, err))) goto done;
    if (train.n < c->batch) {
        rc = tx_err_set(err, TX_EINVAL, "%s has %lld samples, fewer than one batch of %d", c->data,
                        (long long)train.n, c->batch);
        goto done;
    }
    int classes = train.num_classes;
    if (c->val && val.num_classes > classes) classes = val.num_classes;

    int64_t steps_per_epoch = train.n / c->batch;
    tx_opt_config oc = c->opt;
    oc.total_steps = steps_per_epoch * c->epochs;
    oc.warmup_steps = (int64_t)(c->warmup_epochs * (float)steps_per_epoch);

    int start_epoch = 0;
    double elapsed_before = 0;
    if (c->resume && file_exists(ckpt)) {
        if ((rc = load_checkpoint(ckpt, &m, &opt, &oc, &start_epoch, &elapsed_before, &history, err))) goto done;
        have_opt = 1;
        if (strcmp(m->arch, c->arch) != 0 || m->num_classes != classes) {
            rc = tx_err_set(err, TX_EINVAL, "%s: checkpoint is a %s with %d classes, this run asks for %s with %d",
                            ckpt, m->arch, m->num_classes, c->arch, classes);
            goto done;
        }
        msg(c, "resuming from %s after epoch %d of %d", ckpt, start_epoch, c->epochs);
    } else {
        if (c->resume) msg(c, "no checkpoint at %s: starting from scratch", ckpt);
        int ih = c->image_size > 0 ? c->image_size : train.h, iw = c->image_size > 0 ? c->image_size : train.w;
        int ic = c->channels > 0 ? c->channels : train.c;
        if ((rc = tx_model_build(c->arch, ih, iw, ic, classes, c->seed, &m, err))) goto done;
        /* the data is already framed: resize it to the input without cropping */
        m->pp.crop_fraction = 0;
        m->pp.resize = TX_RESIZE_BILINEAR;
        float mean = c->mean, std = c->std;
        if (mean == 0 && std == 0) {
            /* Fashion-MNIST statistics for gray data, ImageNet's for RGB */
            if (ic == 1) { mean = 0.2860f; std = 0.3530f; }
        }
        for (int k = 0; k < ic && k < 3; k++) {
            static const float im_mean[3] = {0.485f, 0.456f, 0.406f}, im_std[3] = {0.229f, 0.224f, 0.225f};
            m->pp.mean[k] = (mean || std) ? mean : im_mean[k];
            m->pp.std[k] = (mean || std) ? (std > 0 ? std : 1) : im_std[k];
        }
        if (train.class_names)
            if ((rc = tx_model_set_classes(m, classes, (const char *const *)train.class_names, err))) goto done;
        if ((rc = tx_opt_create(&opt, m, &oc, err))) goto done;
        have_opt = 1;
        history = cJSON_CreateArray();
        /* a fresh run starts a fresh log */
        FILE *f = fopen(logpath, "w");
        if (f) fclose(f);
    }
    if (start_epoch >= c->epochs) {
        msg(c, "checkpoint already has all %d epochs", c->epochs);
    }
    if ((rc = tx_exec_create(m, c->batch, 1, c->seed, &e, err))) goto done;
    size_t plane = (size_t)m->pp.height * m->pp.width * m->pp.channels; /* the model input, not the data */
    int k = m->num_classes;
    in = tx_alloc((size_t)c->batch * plane * sizeof(float));
    probs = tx_alloc((size_t)c->batch * k * sizeof(float));
    dlogits = tx_alloc((size_t)c->batch * k * sizeof(float));
    perm = malloc((size_t)train.n * sizeof(int64_t));
    labels = malloc((size_t)c->batch * sizeof(int32_t));
    if (!in || !probs || !dlogits || !perm || !labels) {
        rc = tx_err_set(err, TX_ENOMEM, "out of memory (training buffers)");
        goto done;
    }
    if (!(log = fopen(logpath, "a"))) {
        rc = tx_err_set(err, TX_EIO, "%s: cannot open the log: %s", logpath, strerror(errno));
        goto done;
    }
    double t_start = tx_now();
    tx_epoch_report last = {0};
    for (int epoch = start_epoch; epoch < c->epochs; epoch++) {
        double t0 = tx_now(), last_cb = 0;
        tx_rng r;
        tx_rng_seed(&r, mix2(c->seed, (uint64_t)epoch + 1));
        for (int64_t i = 0; i < train.n; i++) perm[i] = i;
        for (int64_t i = train.n - 1; i > 0; i--) {
            int64_t j = (int64_t)tx_rng_below(&r, (uint32_t)(i + 1));
            int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        double loss_sum = 0;
        int64_t correct = 0, seen = 0;
        float lr = 0;
        for (int64_t s = 0; s < steps_per_epoch; s++) {
            idx = perm + s * c->batch;
            if ((rc = tx_load_batch(in, &train, idx, c->batch, &m->pp, &c->aug, c->seed, epoch, err))) goto done;
            for (int i = 0; i < c->batch; i++) labels[i] = train.labels[idx[i]];
            tx_exec_seed(e, mix2(c->seed ^ 0xd0d0, (uint64_t)opt.step));
            const float *logits = tx_exec_forward(e, in, c->batch);
            float loss = tx_softmax_xent_forward(probs, logits, labels, c->batch, k, dec(c->label_smoothing));
            tx_softmax_xent_backward(dlogits, probs, labels, c->batch, k, dec(c->label_smoothing));
            tx_exec_backward(e, dlogits);
            lr = tx_opt_step(&opt, m, e);
            if (!isfinite(loss)) {
                rc = tx_err_set(err, TX_EINVAL, "training diverged at epoch %d step %lld (loss %g): "
                                "lower --lr (now %g) or add --warmup", epoch + 1, (long long)s, loss, dec(c->opt.lr));
                goto done;
            }
            loss_sum += loss * c->batch;
            seen += c->batch;
            for (int i = 0; i < c->batch; i++) {
                const float *p = probs + (size_t)i * k;
                int best = 0;
                for (int j = 1; j < k; j++) if (p[j] > p[best]) best = j;
                correct += best == labels[i];
            }
            double now = tx_now();
            if (c->on_progress && (now - last_cb > 0.2 || s + 1 == steps_per_epoch)) {
                last_cb = now;
                double ips = seen / (now - t0 + 1e-9);
                int64_t left = (int64_t)(c->epochs - epoch - 1) * steps_per_epoch + (steps_per_epoch - s - 1);
                tx_train_progress p = {.epoch = epoch + 1, .epochs = c->epochs, .step = s + 1,
                                       .steps_per_epoch = steps_per_epoch, .total_steps = oc.total_steps,
                                       .done_in_epoch = seen, .images_per_s = ips,
                                       .loss = loss_sum / seen, .lr = lr, .elapsed_s = now - t0,
                                       .eta_s = (double)left * c->batch / (ips > 0 ? ips : 1)};
                c->on_progress(c->user, &p);
            }
        }
        double train_s = tx_now() - t0;
        tx_epoch_report rep = {.epoch = epoch + 1, .epochs = c->epochs, .train_loss = loss_sum / seen,
                               .train_acc = (double)correct / seen, .lr = lr,
                               .images_per_s = seen / train_s};
        if (c->val) {
            tx_metrics mt;
            if ((rc = tx_evaluate(m, &val, c->eval_batch, &mt, NULL, NULL, err))) goto done;
            rep.has_val = 1;
            rep.val_top1 = tx_metrics_top1(&mt);
            rep.val_top5 = tx_metrics_top5(&mt);
            rep.val_loss = tx_metrics_mean_loss(&mt);
            tx_metrics_free(&mt);
        }
        rep.seconds = tx_now() - t0;
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "epoch", rep.epoch);
        cJSON_AddNumberToObject(line, "train_loss", rep.train_loss);
        cJSON_AddNumberToObject(line, "train_acc", rep.train_acc);
        if (rep.has_val) {
            cJSON_AddNumberToObject(line, "val_top1", rep.val_top1);
            cJSON_AddNumberToObject(line, "val_top5", rep.val_top5);
            cJSON_AddNumberToObject(line, "val_loss", rep.val_loss);
        }
        cJSON_AddNumberToObject(line, "lr", rep.lr);
        cJSON_AddNumberToObject(line, "seconds", rep.seconds);
        cJSON_AddNumberToObject(line, "images_per_s", rep.images_per_s);
        cJSON_AddItemToArray(history, cJSON_Duplicate(line, 1));
        /* checkpoint first, then the log line: a killed run never logs an epoch it lost */
        rc = save_checkpoint(ckpt, m, &opt, epoch + 1, elapsed_before + tx_now() - t_start, history, err);
        if (rc) { cJSON_Delete(line); goto done; }
        char *txt = cJSON_PrintUnformatted(line);
        cJSON_Delete(line);
        if (txt) { fprintf(log, "%s\n", txt); fflush(log); free(txt); }
        last = rep;
        if (c->on_epoch) c->on_epoch(c->user, &rep);
        if (c->stop_after > 0 && epoch + 1 >= c->stop_after && epoch + 1 < c->epochs) {
            msg(c, "stopping after epoch %d as asked; continue with --resume (checkpoint %s)", epoch + 1, ckpt);
            goto done;
        }
    }
    /* provenance and the final model */
    {
        cJSON *p = cJSON_CreateObject();
        char date[32];
        iso_date(date, sizeof date);
        cJSON_AddStringToObject(p, "data", c->data);
        if (c->val) cJSON_AddStringToObject(p, "val", c->val);
        cJSON_AddNumberToObject(p, "train_samples", (double)train.n);
        cJSON_AddItemToObject(p, "recipe", recipe_json(c));
        cJSON *mt = cJSON_AddObjectToObject(p, "metrics");
        int nh = cJSON_GetArraySize(history);
        cJSON *lastj = nh ? cJSON_GetArrayItem(history, nh - 1) : NULL;
        for (cJSON *f = lastj ? lastj->child : NULL; f; f = f->next)
            if (strcmp(f->string, "epoch") != 0) cJSON_AddItemToObject(mt, f->string, cJSON_Duplicate(f, 1));
        cJSON_AddNumberToObject(p, "train_seconds", elapsed_before + tx_now() - t_start);
        cJSON_AddStringToObject(p, "date", date);
        cJSON_AddStringToObject(p, "taxon_version", TAXON_VERSION);
        char *s = cJSON_PrintUnformatted(p);
        cJSON_Delete(p);
        tx_model_set_provenance(m, s);
        free(s);
        (void)last;
    }
    if ((rc = tx_model_save(m, c->out, err))) goto done;
    unlink(ckpt);
done:
    if (log) fclose(log);
    cJSON_Delete(history);
    tx_free(in); tx_free(probs); tx_free(dlogits);
    free(perm); free(labels);
    tx_exec_free(e);
    if (have_opt) tx_opt_free(&opt);
    tx_model_free(m);
    tx_dataset_free(&train);
    tx_dataset_free(&val);
    return rc;
}
