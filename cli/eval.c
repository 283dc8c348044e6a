/* eval.c - `taxon eval`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval/metrics.h"
#include "io/tflite_import.h"

static void progress(void *user, int64_t done, int64_t total) {
    char text[64];
    snprintf(text, sizeof text, "%lld/%lld images", (long long)done, (long long)total);
    cli_bar_draw(user, (double)done / (double)total, text);
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL;
    int json = 0, threads = 0, batch = 256;
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "FILE", "model file (.safetensors written by taxon)"},
        {"data", OPT_STR, &data, "SPEC", "data set: fashion-mnist:test, or a folder of IDX files"},
        {"json", OPT_FLAG, &json, NULL, "print one JSON object (top1, top5, macro_f1, n, mean_loss, per_class, confusion)"},
        {"batch-size", OPT_INT, &batch, "N", "images per forward pass (default 256)"},
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    cli_cmd cmd = {"eval", "--model FILE --data SPEC [--json]",
                   "Evaluate a model: top-1, top-5, per-class precision/recall/F1, macro-F1,\n"
                   "confusion matrix (rows: true class, columns: predicted) and mean loss.",
                   NULL, opts};
    char **pos;
    int npos, rc = cli_parse(&cmd, argc, argv, &pos, &npos);
    free(pos);
    if (rc) return rc == 1 ? 0 : 2;
    if (batch < 1) {
        fprintf(stderr, "taxon eval: error: --batch-size must be at least 1, got %d\n", batch);
        return 2;
    }
    if (!model || !data || npos) {
        fprintf(stderr, "taxon eval: error: --model and --data are required (and no other arguments)\n"
                        "  e.g. taxon eval --model fmnist.safetensors --data fashion-mnist:test\n");
        return 2;
    }
    cli_set_threads(threads);
    tx_err err = {0};
    tx_model *m;
    tx_dataset d;
    if (tx_model_open(model, NULL, &m, &err)) return cli_fail("eval", &err);
    if (tx_dataset_open(data, &d, &err)) {
        tx_model_free(m);
        return cli_fail("eval", &err);
    }
    cli_bar bar;
    cli_bar_init(&bar);
    tx_metrics mt;
    rc = tx_evaluate(m, &d, batch, &mt, progress, &bar, &err);
    cli_bar_done(&bar);
    if (rc) {
        tx_dataset_free(&d);
        tx_model_free(m);
        return cli_fail("eval", &err);
    }
    int k = mt.k;
    if (json) {
        printf("{\"model\": ");
        cli_json_str(stdout, model);
        printf(", \"data\": ");
        cli_json_str(stdout, data);
        printf(", \"n\": %lld, \"top1\": %.6f, \"top5\": %.6f, \"macro_f1\": %.6f, \"mean_loss\": %.6f, \"per_class\": [",
               (long long)mt.n, tx_metrics_top1(&mt), tx_metrics_top5(&mt), tx_metrics_macro_f1(&mt),
               tx_metrics_mean_loss(&mt));
        for (int c = 0; c < k; c++) {
            tx_class_stats s;
            tx_metrics_class(&mt, c, &s);
            const char *name = tx_model_class_name(m, c);
            char fb[16];
            if (!name) { snprintf(fb, sizeof fb, "%d", c); name = fb; }
            printf("%s{\"index\": %d, \"label\": ", c ? ", " : "", c);
            cli_json_str(stdout, name);
            printf(", \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %lld}", s.precision,
                   s.recall, s.f1, (long long)s.support);
        }
        printf("], \"confusion\": [");
        for (int r = 0; r < k; r++) {
            printf("%s[", r ? ", " : "");
            for (int c = 0; c < k; c++) printf("%s%lld", c ? ", " : "", (long long)mt.confusion[(size_t)r * k + c]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("%s on %s: %lld images\n\n", model, data, (long long)mt.n);
        printf("  top-1     %.2f%%\n  top-5     %.2f%%\n  macro-F1  %.4f\n  mean loss %.4f\n\n",
               100 * tx_metrics_top1(&mt), 100 * tx_metrics_top5(&mt), tx_metrics_macro_f1(&mt),
               tx_metrics_mean_loss(&mt));
        printf("  %-4s %-20s %9s %9s %9s %8s\n", "#", "class", "precision", "recall", "F1", "support");
        for (int c = 0; c < k; c++) {
            tx_class_stats s;
            tx_metrics_class(&mt, c, &s);
            const char *name = tx_model_class_name(m, c);
            printf("  %-4d %-20.20s %9.4f %9.4f %9.4f %8lld\n", c, name ? name : "", s.precision, s.recall,
                   s.f1, (long long)s.support);
        }
        if (k <= 20) {
            printf("\n  confusion matrix (rows: true class, columns: predicted)\n      ");
            for (int c = 0; c < k; c++) printf("%6d", c);
            printf("\n");
            for (int r = 0; r < k; r++) {
                printf("  %3d ", r);
                for (int c = 0; c < k; c++) printf("%6lld", (long long)mt.confusion[(size_t)r * k + c]);
                printf("\n");
            }
        }
    }
    tx_metrics_free(&mt);
    tx_dataset_free(&d);
    tx_model_free(m);
    return 0;
}
