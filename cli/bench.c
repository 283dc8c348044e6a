/* bench.c - `taxon bench`: latency/throughput of inference or of a training step. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph/graph.h"
#include "io/tflite_import.h"
#include "models/models.h"
#include "ops/ops.h"
#include "train/optim.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *arch = NULL;
    int batch = 1, threads = 0, train = 0, json = 0, size = 0, channels = 0, classes = 0;
    int warmup = 3, repeats = 20, profile = 0;
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "FILE", "a taxon model file"},
        {"arch", OPT_STR, &arch, "NAME", "or a built-in architecture (random weights)"},
        {"batch-size", OPT_INT, &batch, "N", "images per batch (default 1)"},
        {"image-size", OPT_INT, &size, "S", "input side for --arch (default: the arch's, 224 for ImageNet nets)"},
        {"channels", OPT_INT, &channels, "C", "input channels for --arch (default: the arch's)"},
        {"classes", OPT_INT, &classes, "K", "classes for --arch (default 1000 at 224, else 10)"},
        {"train", OPT_FLAG, &train, NULL, "time a training step (forward + loss + backward + SGD)"},
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)"},
        {"warmup", OPT_INT, &warmup, "N", "untimed runs first (default 3)"},
        {"repeats", OPT_INT, &repeats, "N", "timed runs; the median is reported (default 20)"},
        {"profile", OPT_FLAG, &profile, NULL, "also print the time of every node (forward, backward)"},
        {"json", OPT_FLAG, &json, NULL, "print one JSON object"},
        {NULL, 0, NULL, NULL, NULL},
    };
    cli_cmd cmd = {"bench", "(--model FILE | --arch NAME) [--batch-size B] [--train] [--json]",
                   "Measure inference latency/throughput, or training-step throughput, on random\n"
                   "input: median of repeated runs after warm-up, GFLOP/s and executor memory.",
                   "JSON keys: ms_per_batch, images_per_s, gflops, peak_fraction (of 115 GFLOP/s per core:\n"
                   "AVX-512 fp32 FMA peak of the Zen 4 reference machine), peak_bytes (all executor memory),\n"
                   "activation_bytes (planned activation peak), batch, threads, mode, min_ms, max_ms.", opts};
    char **pos;
    int npos, rc = cli_parse(&cmd, argc, argv, &pos, &npos);
    free(pos);
    if (rc) return rc == 1 ? 0 : 2;
    if ((!model) == (!arch) || npos || batch < 1 || repeats < 1 || warmup < 0) {
        fprintf(stderr, "taxon bench: error: give exactly one of --model or --arch; --batch-size/--repeats >= 1\n");
        return 2;
    }
    cli_set_threads(threads);
    if (threads <= 0) threads = omp_get_max_threads();
    tx_err err = {0};
    tx_model *m;
    if (arch) {
        int ds, dc;
        tx_arch_default_input(arch, &ds, &dc);
        if (size <= 0) size = ds;
        if (channels <= 0) channels = dc;
        if (classes <= 0) classes = ds >= 224 ? 1000 : 10;
    }
    if (model ? tx_model_open(model, NULL, &m, &err) : tx_model_build(arch, size, size, channels, classes, 1, &m, &err))
        return cli_fail("bench", &err);
    tx_exec *e;
    if (tx_exec_create(m, batch, train, 1, &e, &err)) {
        tx_model_free(m);
        return cli_fail("bench", &err);
    }
    const tx_node *in = &m->nodes[0];
    size_t plane = (size_t)in->oh * in->ow * in->oc;
    int k = m->num_classes = m->nodes[m->n_nodes - 1].oc;
    float *x = tx_alloc((size_t)batch * plane * sizeof(float));
    float *probs = tx_alloc((size_t)batch * k * sizeof(float)), *dl = tx_alloc((size_t)batch * k * sizeof(float));
    int32_t *labels = malloc((size_t)batch * sizeof(int32_t));
    double *t = malloc((size_t)repeats * sizeof(double));
    tx_rng r;
    tx_rng_seed(&r, 7);
    for (size_t i = 0; i < (size_t)batch * plane; i++) x[i] = tx_rng_normal(&r);
    for (int i = 0; i < batch; i++) labels[i] = (int32_t)tx_rng_below(&r, (uint32_t)k);
    tx_optimizer opt;
    tx_opt_config oc = {.kind = TX_OPT_SGD, .lr = 1e-4f, .momentum = 0.9f, .sched = TX_SCHED_CONSTANT,
                        .total_steps = 1};
    if (train && tx_opt_create(&opt, m, &oc, &err)) return cli_fail("bench", &err);
    double *prof = profile ? calloc((size_t)m->n_nodes * 2, sizeof(double)) : NULL;
    for (int it = 0; it < warmup + repeats; it++) {
        if (prof && it == warmup) tx_exec_profile(e, prof);
        double t0 = tx_now();
        const float *logits = tx_exec_forward(e, x, batch);
        if (train) {
            tx_softmax_xent_forward(probs, logits, labels, batch, k, 0.0f);
            tx_softmax_xent_backward(dl, probs, labels, batch, k, 0.0f);
            tx_exec_backward(e, dl);
            tx_opt_step(&opt, m, e);
        }
        double dt = tx_now() - t0;
        if (it >= warmup) t[it - warmup] = dt;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp_double);
    double med = t[repeats / 2];
    double flops = tx_model_flops(m) * batch * (train ? 3.0 : 1.0);
    double gflops = flops / med / 1e9;
    if (json)
        printf("{\"model\": \"%s\", \"mode\": \"%s\", \"batch\": %d, \"threads\": %d, \"ms_per_batch\": %.4f, "
               "\"images_per_s\": %.2f, \"gflops\": %.2f, \"peak_fraction\": %.3f, \"peak_bytes\": %zu, "
               "\"activation_bytes\": %zu, \"min_ms\": %.4f, \"max_ms\": %.4f}\n",
               model ? model : arch, train ? "train" : "inference", batch, threads, med * 1e3, batch / med,
               gflops, gflops / (115.0 * threads), tx_exec_peak_bytes(e), tx_exec_activation_bytes(e), t[0] * 1e3,
               t[repeats - 1] * 1e3);
    else
        printf("%s %s, batch %d, %d threads: %.3f ms/batch (min %.3f, max %.3f), %.1f images/s, %.1f GFLOP/s "
               "(%.0f%% of peak), executor memory %.1f MB%s",
               model ? model : arch, train ? "training step" : "inference", batch, threads, med * 1e3, t[0] * 1e3,
               t[repeats - 1] * 1e3, batch / med, gflops, 100 * gflops / (115.0 * threads), tx_exec_peak_bytes(e) / 1e6,
               train ? "\n" : "");
    if (!json && !train) printf(" (activations %.1f MB)\n", tx_exec_activation_bytes(e) / 1e6);
    if (prof) {
        double tot = 0;
        for (int i = 0; i < 2 * m->n_nodes; i++) tot += prof[i];
        fprintf(json ? stderr : stdout, "\n  %-3s %-22s %-15s %10s %10s %6s\n", "#", "node", "op", "fwd ms", "bwd ms", "share");
        for (int i = 1; i < m->n_nodes; i++)
            fprintf(json ? stderr : stdout, "  %-3d %-22.22s %-15s %10.3f %10.3f %5.1f%%\n", i, m->nodes[i].name,
                    tx_op_name(m->nodes[i].op), prof[2 * i] * 1e3 / repeats, prof[2 * i + 1] * 1e3 / repeats,
                    100 * (prof[2 * i] + prof[2 * i + 1]) / (tot > 0 ? tot : 1));
        free(prof);
    }
    if (train) tx_opt_free(&opt);
    tx_free(x); tx_free(probs); tx_free(dl);
    free(labels); free(t);
    tx_exec_free(e);
    tx_model_free(m);
    return 0;
}
