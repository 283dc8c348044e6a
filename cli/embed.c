/* embed.c - `taxon embed`: the feature vector of each image. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph/session.h"
#include "io/tflite_import.h"

int cmd_embed(int argc, char **argv) {
    const char *model = NULL;
    int json = 0, threads = 0, normalize = 0, float_graph = 0;
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "FILE", "model file: a taxon .safetensors or a .tflite"},
        {"json", OPT_FLAG, &json, NULL, "one JSON object per image and line"},
        {"normalize", OPT_FLAG, &normalize, NULL, "scale each vector to unit length (L2)"},
        {"float", OPT_FLAG, &float_graph, NULL, "a .tflite model runs its dequantized float graph"},
        {"threads", OPT_INT, &threads, "N", "threads (default: all cores)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    cli_cmd cmd = {"embed", "--model FILE [--json] [--normalize] IMAGE...",
                   "Print the feature vector (embedding) of each image: the output of an embedding\n"
                   "model (such as mobilenet_v1_1.0_224_quant_embedding_extractor.tflite), or for a\n"
                   "classifier the input of its classification head (the penultimate layer).",
                   "Text output: one line per image, the file name then the values. JSON lines look like\n"
                   "  {\"image\": \"a.jpg\", \"node\": \"avgpool_27\", \"dim\": 1024, \"embedding\": [0.1, ...]}\n"
                   "8-bit models give their dequantized values (scale * (q - zero point)). An image\n"
                   "that cannot be read prints an error and the exit status is 1; the others go on.",
                   opts};
    char **pos;
    int npos, rc = cli_parse(&cmd, argc, argv, &pos, &npos);
    if (rc) { free(pos); return rc == 1 ? 0 : 2; }
    if (!model || npos == 0) {
        fprintf(stderr, "taxon embed: error: %s\n  e.g. taxon embed --model "
                        "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite --json cat.jpg\n",
                !model ? "--model is required" : "no images given");
        free(pos);
        return 2;
    }
    cli_set_threads(threads);
    tx_err err = {0};
    tx_model *m;
    tx_session *s;
    tx_tflite_import_opts o = {.float_graph = float_graph};
    if (tx_model_open(model, &o, &m, &err)) { free(pos); return cli_fail("embed", &err); }
    if (tx_session_create(m, &s, &err)) {
        tx_model_free(m);
        free(pos);
        return cli_fail("embed", &err);
    }
    int dim = tx_session_feature_dim(s), bad = 0;
    const char *node = m->nodes[tx_model_feature_node(m)].name;
    float *v = malloc((size_t)dim * sizeof *v);
    for (int i = 0; i < npos && v; i++) {
        if (tx_embed_file(s, pos[i], v, &err)) {
            bad = 1;
            cli_image_error("embed", pos[i], err.msg, json);
            continue;
        }
        if (normalize) {
            double ss = 0;
            for (int k = 0; k < dim; k++) ss += (double)v[k] * v[k];
            if (ss > 0) {
                float inv = (float)(1.0 / sqrt(ss));
                for (int k = 0; k < dim; k++) v[k] *= inv;
            }
        }
        if (json) {
            printf("{\"image\": ");
            cli_json_str(stdout, pos[i]);
            printf(", \"node\": ");
            cli_json_str(stdout, node);
            printf(", \"dim\": %d, \"embedding\": [", dim);
            for (int k = 0; k < dim; k++) printf("%s%.8g", k ? ", " : "", v[k]);
            printf("]}\n");
        } else {
            printf("%s", pos[i]);
            for (int k = 0; k < dim; k++) printf(" %.8g", v[k]);
            printf("\n");
        }
        fflush(stdout);
    }
    if (!v) {
        fprintf(stderr, "taxon embed: error: out of memory\n");
        bad = 1;
    }
    free(v);
    free(pos);
    tx_session_free(s);
    tx_model_free(m);
    return bad;
}
