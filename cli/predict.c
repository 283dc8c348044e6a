/* predict.c - `taxon predict`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph/graph.h"
#include "io/tflite_import.h"

int cmd_predict(int argc, char **argv) {
    const char *model = NULL, *labels = NULL, *resize = NULL;
    int k = 5, json = 0, threads = 0, float_graph = 0;
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "FILE", "model file: a taxon .safetensors or a .tflite"},
        {"labels", OPT_STR, &labels, "FILE", "class names, one a line (default: those in the model)"},
        {"float", OPT_FLAG, &float_graph, NULL, "a .tflite model runs its dequantized float graph"},
        {"resize", OPT_STR, &resize, "METHOD", "override the model's resize filter: bilinear or nearest"},
        {"top-k", OPT_INT, &k, "K", "how many classes to show per image (default 5)"},
        {"json", OPT_FLAG, &json, NULL, "one JSON object per image and line"},
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    cli_cmd cmd = {"predict", "--model FILE [--labels FILE] [--top-k K] [--json] IMAGE...",
                   "Classify image files (PNG, JPEG, BMP, PGM/PPM) with the preprocessing stored in the model.\n"
                   "TFLite models (.tflite) run directly: quantized ones on the integer path, with\n"
                   "TFLite's own results; their label file is read from the model when it has one.",
                   "JSON lines look like\n  {\"image\": \"a.png\", \"predictions\": [{\"index\": 3, \"label\": \"Dress\", \"score\": 0.97}, ...]}\n"
                   "An image that cannot be read prints an error (or {\"image\": ..., \"error\": ...}) and the\n"
                   "exit status is 1, but the other images are still classified.",
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
    if (!model || npos == 0 || k < 1) {
        fprintf(stderr, "taxon predict: error: %s\n  e.g. taxon predict --model fmnist.safetensors shirt.png\n",
                !model ? "--model is required" : k < 1 ? "--top-k must be >= 1" : "no images given");
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
            if (json) {
                printf("{\"image\": ");
                cli_json_str(stdout, pos[i]);
                printf(", \"error\": ");
                cli_json_str(stdout, err.msg);
                printf("}\n");
            }
            fprintf(stderr, "taxon predict: error: %s\n", err.msg);
            continue;
        }
        if (json) {
            printf("{\"image\": ");
            cli_json_str(stdout, pos[i]);
            printf(", \"predictions\": [");
            for (int j = 0; j < n; j++) {
                const char *label = tx_model_class_name(m, p[j].index);
                char fallback[32];
                if (!label) { snprintf(fallback, sizeof fallback, "%d", p[j].index); label = fallback; }
                printf("%s{\"index\": %d, \"label\": ", j ? ", " : "", p[j].index);
                cli_json_str(stdout, label);
                printf(", \"score\": %.6g}", p[j].score);
            }
            printf("]}\n");
        } else {
            printf("%s\n", pos[i]);
            for (int j = 0; j < n; j++) {
                const char *label = tx_model_class_name(m, p[j].index);
                printf("  %6.2f%%  %s%s(%d)\n", 100 * p[j].score, label ? label : "", label ? " " : "", p[j].index);
            }
        }
        fflush(stdout);
    }
    free(p);
    free(pos);
    tx_session_free(s);
    tx_model_free(m);
    return bad;
}
