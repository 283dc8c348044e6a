/* predict.c - `taxon predict`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph/graph.h"
#include "io/npy.h"
#include "io/tflite_import.h"
#include "ops/ops.h"

static void print_preds(const tx_model *m, const tx_prediction *p, int n, int json) {
    for (int j = 0; j < n; j++) {
        const char *label = tx_model_class_name(m, p[j].index);
        if (json) {
            char fallback[32];
            if (!label) { snprintf(fallback, sizeof fallback, "%d", p[j].index); label = fallback; }
            printf("%s{\"index\": %d, \"label\": ", j ? ", " : "", p[j].index);
            cli_json_str(stdout, label);
            printf(", \"score\": %.6g}", p[j].score);
        } else {
            printf("  %6.2f%%  %s%s(%d)\n", 100 * p[j].score, label ? label : "", label ? " " : "", p[j].index);
        }
    }
}

/* --tensor: a float32 N x C x H x W (or C x H x W) .npy in PyTorch's layout goes straight
 * into the network, without preprocessing. */
static int predict_tensor(tx_model *m, const char *path, int k, int json, int logits) {
    tx_err err = {0};
    tx_npy a;
    if (tx_npy_load(path, &a, &err)) return cli_fail("predict", &err);
    const tx_node *in = &m->nodes[0];
    int n = a.ndim == 4 ? (int)a.shape[0] : 1;
    const int64_t *chw = a.ndim == 4 ? a.shape + 1 : a.shape;
    if ((a.ndim != 3 && a.ndim != 4) || chw[0] != in->oc || chw[1] != in->oh || chw[2] != in->ow || n < 1) {
        char got[96] = "";
        for (int d = 0; d < a.ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? " x " : "", (long long)a.shape[d]);
        fprintf(stderr, "taxon predict: error: %s: tensor is [%s], the model takes N x %d x %d x %d (N x C x H x W)\n",
                path, a.ndim ? got : "scalar", in->oc, in->oh, in->ow);
        tx_npy_free(&a);
        return 2;
    }
    if (in->dtype != TX_F32) {
        fprintf(stderr, "taxon predict: error: --tensor needs a float model; this one takes 8-bit input "
                        "(for a .tflite file add --float)\n");
        tx_npy_free(&a);
        return 2;
    }
    int hw = in->oh * in->ow, c = in->oc, nc = tx_model_num_classes(m);
    float *x = tx_alloc((size_t)n * hw * c * sizeof(float)), *probs = tx_alloc((size_t)n * nc * sizeof(float));
    tx_prediction *p = calloc((size_t)k, sizeof *p);
    tx_exec *e = NULL;
    int rc = 0;
    if (!x || !probs || !p) {
        fprintf(stderr, "taxon predict: error: out of memory\n");
        rc = 1;
        goto done;
    }
    for (int b = 0; b < n; b++) /* NCHW -> NHWC */
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < hw; i++) x[((size_t)b * hw + i) * c + ch] = a.data[((size_t)b * c + ch) * hw + i];
    if (tx_exec_create(m, n, 0, 0, &e, &err)) { rc = cli_fail("predict", &err); goto done; }
    const float *y = tx_exec_forward(e, x, n);
    if (m->output_probs) memcpy(probs, y, (size_t)n * nc * sizeof(float));
    else tx_softmax_forward(probs, y, n, nc);
    for (int b = 0; b < n; b++) {
        tx_topk(probs + (size_t)b * nc, nc, k, p);
        if (json) {
            printf("{\"tensor\": ");
            cli_json_str(stdout, path);
            printf(", \"index\": %d, \"predictions\": [", b);
            print_preds(m, p, k, 1);
            printf("]");
            if (logits) {
                printf(", \"logits\": [");
                for (int j = 0; j < nc; j++) printf("%s%.9g", j ? ", " : "", y[(size_t)b * nc + j]);
                printf("]");
            }
            printf("}\n");
        } else {
            printf("%s[%d]\n", path, b);
            print_preds(m, p, k, 0);
            if (logits) {
                printf("  logits:");
                for (int j = 0; j < nc; j++) printf(" %.9g", y[(size_t)b * nc + j]);
                printf("\n");
            }
        }
    }
done:
    tx_exec_free(e);
    tx_free(x);
    tx_free(probs);
    free(p);
    tx_npy_free(&a);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    const char *model = NULL, *labels = NULL, *resize = NULL;
    const char *tensor = NULL;
    int k = 5, json = 0, threads = 0, float_graph = 0, logits = 0;
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "FILE", "model file: a taxon .safetensors or a .tflite"},
        {"labels", OPT_STR, &labels, "FILE", "class names, one a line (default: those in the model)"},
        {"float", OPT_FLAG, &float_graph, NULL, "a .tflite model runs its dequantized float graph"},
        {"resize", OPT_STR, &resize, "METHOD", "override the model's resize filter: bilinear or nearest"},
        {"tensor", OPT_STR, &tensor, "FILE.npy", "run a float32 N x C x H x W tensor (PyTorch layout) with no preprocessing"},
        {"logits", OPT_FLAG, &logits, NULL, "with --tensor: also print the raw outputs (before softmax)"},
        {"top-k", OPT_INT, &k, "K", "how many classes to show per image (default 5)"},
        {"json", OPT_FLAG, &json, NULL, "one JSON object per image and line"},
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    cli_cmd cmd = {"predict", "--model FILE [--labels FILE] [--top-k K] [--json] IMAGE... | --tensor X.npy [--logits]",
                   "Classify image files (PNG, JPEG, BMP, PGM/PPM) with the preprocessing stored in the model.\n"
                   "TFLite models (.tflite) run directly: quantized ones on the integer path, with\n"
                   "TFLite's own results; their label file is read from the model when it has one.",
                   "JSON lines look like\n  {\"image\": \"a.png\", \"predictions\": [{\"index\": 3, \"label\": \"Dress\", \"score\": 0.97}, ...]}\n"
                   "An image that cannot be read prints an error (or {\"image\": ..., \"error\": ...}) and the\n"
                   "exit status is 1, but the other images are still classified.\n"
                   "--tensor x.npy --logits --json prints one line per sample with \"logits\": [...], to check\n"
                   "parity with PyTorch:  numpy.save('x.npy', x.numpy())  then compare with model(x).",
                   opts};
    char **pos;
    int npos, rc = cli_parse(&cmd, argc, argv, &pos, &npos);
    if (rc) { free(pos); return rc == 1 ? 0 : 2; }
    tx_resize_method rm = TX_RESIZE_BILINEAR;
    if (resize && !tx_resize_parse(resize, &rm)) {
        fprintf(stderr, "taxon predict: error: --resize must be bilinear or nearest, got '%s'\n", resize);
        free(pos);
        return 2;
    }
    if (logits && !tensor) {
        fprintf(stderr, "taxon predict: error: --logits goes with --tensor\n");
        free(pos);
        return 2;
    }
    if (!model || (npos == 0) == !tensor || k < 1) {
        fprintf(stderr, "taxon predict: error: %s\n  e.g. taxon predict --model fmnist.safetensors shirt.png\n",
                !model ? "--model is required" : k < 1 ? "--top-k must be >= 1"
                : tensor ? "give images or --tensor, not both" : "no images given");
        free(pos);
        return 2;
    }
    cli_set_threads(threads);
    tx_err err = {0};
    tx_model *m;
    tx_session *s;
    tx_tflite_import_opts o = {.labels = labels, .float_graph = float_graph};
    if (tx_model_open(model, &o, &m, &err)) { free(pos); return cli_fail("predict", &err); }
    if (resize) m->pp.resize = rm;
    if (tensor) {
        int nc0 = tx_model_num_classes(m);
        rc = predict_tensor(m, tensor, k > nc0 ? nc0 : k, json, logits);
        tx_model_free(m);
        free(pos);
        return rc;
    }
    if (tx_session_create(m, &s, &err)) {
        tx_model_free(m);
        free(pos);
        return cli_fail("predict", &err);
    }
    int nc = tx_model_num_classes(m), bad = 0;
    if (k > nc) k = nc;
    tx_prediction *p = calloc((size_t)k, sizeof *p);
    for (int i = 0; i < npos && p; i++) {
        int n;
        if (tx_predict_file(s, pos[i], k, p, &n, &err)) {
            bad = 1;
            cli_image_error("predict", pos[i], err.msg, json);
            continue;
        }
        if (json) {
            printf("{\"image\": ");
            cli_json_str(stdout, pos[i]);
            printf(", \"predictions\": [");
            print_preds(m, p, n, 1);
            printf("]}\n");
        } else {
            printf("%s\n", pos[i]);
            print_preds(m, p, n, 0);
        }
        fflush(stdout);
    }
    free(p);
    free(pos);
    tx_session_free(s);
    tx_model_free(m);
    return bad;
}
