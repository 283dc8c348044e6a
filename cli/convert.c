/* convert.c - `taxon convert`: other model formats -> a taxon model file (.safetensors).
 *
 *   taxon convert MODEL.tflite [--labels FILE] [--float] [--qmode M] OUT.safetensors
 *   taxon convert --from torchvision|timm --arch A [--classes N] WEIGHTS OUT.safetensors
 *
 * The written file holds the graph, the weights, the class names and the preprocessing
 * spec, so `taxon predict/eval/embed/info` run it like any taxon model. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "graph/graph.h"
#include "io/tflite_import.h"
#include "io/torchimport.h"
#include "ops/quant.h"

static long long file_bytes(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int count_quantized(const tx_model *m) {
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) n += m->nodes[i].dtype == TX_U8 || m->nodes[i].dtype == TX_I8;
    return n;
}

int cmd_convert(int argc, char **argv) {
    const char *labels = NULL, *qmode = "xnnpack";
    const char *from = NULL, *arch = NULL;
    int float_graph = 0, no_fq = 0, json = 0, classes = 0, image_size = 0;
    uint64_t seed = 0;
    cli_opt opts[] = {
        {"labels", OPT_STR, &labels, "FILE", "class names, one a line (default: the label file inside the "
                                             ".tflite, if any)"},
        {"float", OPT_FLAG, &float_graph, NULL, "write the dequantized float32 graph (trainable) instead of "
                                                 "the integer one"},
        {"no-fake-quant", OPT_FLAG, &no_fq, NULL, "with --float: plain float32 (by default the float graph "
                                                    "rounds each layer's output to the 8-bit grid of the "
                                                    "original, so it keeps the integer model's decisions)"},
        {"qmode", OPT_STR, &qmode, "MODE", "integer arithmetic: xnnpack (TFLite's default CPU path, the "
                                            "default) or tflite_ref (TFLite's reference kernels)"},
        /* PyTorch checkpoints (torchvision / timm state dicts): src/io/torchimport.h */
        {"from", OPT_STR, &from, "SRC", "the input is a PyTorch state dict from SRC: torchvision or timm"},
        {"arch", OPT_STR, &arch, "NAME", "with --from: the architecture (e.g. resnet50)"},
        {"classes", OPT_INT, &classes, "N", "with --from: number of classes of the head (default: from the "
                                            "weights)"},
        {"image-size", OPT_INT, &image_size, "S", "with --from: input side (default: the architecture's)"},
        {"seed", OPT_U64, &seed, "N", "with --from: seed for layers the checkpoint lacks"},
        {"json", OPT_FLAG, &json, NULL, "print a JSON summary of what was written"},
        {NULL, 0, NULL, NULL, NULL},
    };
    cli_cmd cmd = {
        "convert", "MODEL.tflite [--labels FILE] [--float] OUT.safetensors\n"
                   "       taxon convert --from torchvision|timm --arch NAME [--classes N] WEIGHTS OUT.safetensors",
        "Convert a model file into a taxon model (.safetensors with the graph, class names and\n"
        "preprocessing spec), which every taxon command runs.",
        "TFLite: a quantized model keeps its integer weights and runs the integer path, giving\n"
        "TFLite's own results; --float writes the dequantized float32 graph instead, which\n"
        "`taxon train` can fine-tune (each layer's output is rounded to the original 8-bit grid,\n"
        "with straight-through gradients, so it keeps the integer model's decisions;\n"
        "--no-fake-quant: plain float32). Class names come from --labels or from the label file\n"
        "stored inside the .tflite (TFLite metadata). Examples:\n"
        "  taxon convert mobilenet_v2_1.0_224_quant.tflite mnv2.safetensors\n"
        "  taxon convert mobilenet_v2_1.0_224_quant.tflite --float mnv2_float.safetensors",
        opts};
    char **pos;
    int npos, rc = cli_parse(&cmd, argc, argv, &pos, &npos);
    if (rc) { free(pos); return rc == 1 ? 0 : 2; }
    if (npos != 2) {
        fprintf(stderr, "taxon convert: error: give the input model and the output file (got %d file%s)\n"
                        "  e.g. taxon convert mobilenet_v2_1.0_224_quant.tflite mnv2.safetensors\n",
                npos, npos == 1 ? "" : "s");
        free(pos);
        return 2;
    }
    const char *in = pos[0], *outp = pos[1];
    free(pos);
    tx_err err = {0};
    tx_model *m = NULL;
    char source[32];
    if (from) {
        /* ---- PyTorch state dicts (torchvision / timm): src/io/torchimport.h ---- */
        if (!arch) {
            fprintf(stderr, "taxon convert: error: --from %s needs --arch NAME (e.g. resnet50)\n", from);
            return 2;
        }
        if (labels || float_graph || no_fq || strcmp(qmode, "xnnpack")) {
            fprintf(stderr, "taxon convert: error: --labels, --float and --qmode go with .tflite files\n");
            return 2;
        }
        if (classes < 0 || image_size < 0) {
            fprintf(stderr, "taxon convert: error: --classes and --image-size must be positive\n");
            return 2;
        }
        char report[4096];
        if (tx_torch_import(in, from, arch, classes, image_size, seed, &m, report, sizeof report, &err)) {
            /* the error holds the start of the list of misfits, the report all of it */
            if (strlen(report) > 700)
                fprintf(stderr, "taxon convert: everything that did not fit: %s\n", report);
            return cli_fail("convert", &err);
        }
        fprintf(stderr, "taxon convert: %s\n", report);
        snprintf(source, sizeof source, "%s", from);
    } else {
        if (arch || classes || image_size || seed) {
            fprintf(stderr, "taxon convert: error: --arch, --classes, --image-size and --seed go with --from\n");
            return 2;
        }
        if (!tx_file_is_tflite(in)) {
            fprintf(stderr, "taxon convert: error: %s is not a .tflite file (for PyTorch weights use --from "
                            "torchvision|timm --arch NAME)\n", in);
            return 2;
        }
        if (no_fq && !float_graph) {
            fprintf(stderr, "taxon convert: error: --no-fake-quant goes with --float\n");
            return 2;
        }
        tx_tflite_import_opts o = {.labels = labels, .float_graph = float_graph, .no_fake_quant = no_fq};
        if (!strcmp(qmode, "xnnpack")) o.qmode = TX_QMODE_XNNPACK;
        else if (!strcmp(qmode, "tflite_ref")) o.qmode = TX_QMODE_TFLITE_REF;
        else {
            fprintf(stderr, "taxon convert: error: --qmode must be xnnpack or tflite_ref, got '%s'\n", qmode);
            return 2;
        }
        if (tx_tflite_import(in, &o, &m, &err)) return cli_fail("convert", &err);
        snprintf(source, sizeof source, "tflite");
    }
    if (tx_model_save(m, outp, &err)) {
        tx_model_free(m);
        return cli_fail("convert", &err);
    }
    int nq = count_quantized(m);
    const char *graph = nq ? "integer" : "float";
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "input", in);
        cJSON_AddStringToObject(j, "output", outp);
        cJSON_AddStringToObject(j, "source", source);
        cJSON_AddStringToObject(j, "graph", graph);
        cJSON_AddNumberToObject(j, "nodes", m->n_nodes);
        cJSON_AddNumberToObject(j, "quantized_nodes", nq);
        cJSON_AddNumberToObject(j, "parameters", (double)tx_model_param_count(m, 0));
        cJSON_AddNumberToObject(j, "classes", m->num_classes);
        cJSON_AddBoolToObject(j, "labels", m->class_names != NULL);
        cJSON_AddBoolToObject(j, "output_probs", m->output_probs != 0);
        cJSON_AddNumberToObject(j, "bytes", (double)file_bytes(outp));
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("wrote %s: %s graph, %d nodes (%d quantized), %lld parameter values, %d %s%s, input %dx%dx%d\n",
               outp, graph, m->n_nodes, nq, (long long)tx_model_param_count(m, 0), m->num_classes,
               m->feature_node == m->n_nodes - 1 && !m->output_probs ? "features" : "classes",
               m->class_names ? " with names" : "", m->pp.height, m->pp.width, m->pp.channels);
    }
    tx_model_free(m);
    return 0;
}
