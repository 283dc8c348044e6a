/* tflite_import.h - a .tflite file -> taxon's graph (tx_model), run by the one executor.
 *
 * Two graphs can come out of one file:
 *  - the integer graph (default): 8-bit activations keep their type and quantization
 *    (node dtype/qscale/qzp), quantized CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED keep
 *    their integer weights ("weight" U8/I8, "weight_scale" F32, "weight_zp" I32, "bias"
 *    I32) and run the kernels of ops/quant.h, which reproduce TFLite's integer results bit
 *    for bit (qmode: TFLite's default XNNPACK path, or its reference kernels);
 *  - the float graph (float_graph = 1): every weight dequantized to float32 in taxon's
 *    layouts (conv OHWI, depthwise [oc, kh, kw, 1] with groups = channels, linear
 *    [out, in]; bias = int bias * in_scale * w_scale), QUANTIZE/DEQUANTIZE dropped, fused
 *    activations kept in node.act, and each node made from an 8-bit tensor fake-quantized
 *    to that tensor's grid (node.fq; opts->no_fake_quant turns it off): the graph the
 *    training engine runs and fine-tunes (quantization-aware), agreeing with the integer
 *    model up to float rounding in the accumulations.
 * Float32 files (and float16 / dynamic-range weights behind DEQUANTIZE or with float
 * activations) give the float graph either way.
 *
 * Operators: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, MUL, AVERAGE_POOL_2D,
 * MAX_POOL_2D, MEAN (over H and W), RESHAPE, SQUEEZE, SOFTMAX, LOGISTIC, CONCATENATION
 * (channels), PAD (spatial), QUANTIZE, DEQUANTIZE, HARD_SWISH, RELU, RELU6, with fused
 * RELU / RELU6 / RELU_N1_TO_1; uint8 and int8; per-tensor and per-channel weights. Any
 * other operator, or an unsupported use of one, is an error naming the operator, its index
 * and what is wrong. One subgraph, one input [1, H, W, C], one output.
 *
 * Mapping: MEAN -> global_avgpool, LOGISTIC -> sigmoid, RESHAPE/SQUEEZE -> flatten or
 * reshape (or nothing when the per-sample shape is unchanged), AVERAGE_POOL_2D -> avgpool
 * with count_include_pad 0, FULLY_CONNECTED -> linear on the last axis (after a flatten
 * when its weights take the whole sample). Dead operators (not leading to the output)
 * are left out.
 *
 * Class names: opts->labels (one name a line), else the label file TFLite's metadata
 * writer appends to the model as a zip (the .txt whose name contains "label", else the
 * first .txt; stored or deflated, checked against its CRC). The label count must equal
 * the number of outputs. The preprocessing spec: bilinear resize straight to the input
 * size (no crop); mean/std such that the float input equals scale * (pixel - zero point)
 * of the input quantization (so the 8-bit input is the pixel bytes themselves for uint8,
 * pixel - 128 for int8); float inputs: the normalization in TFLite's metadata when the
 * file has it, else mean = std = 0.5 ([-1, 1], the MobileNet convention).
 * m->output_probs is set when the graph ends in SOFTMAX (possibly behind (DE)QUANTIZE or
 * RESHAPE); m->feature_node is the output for an embedding model (no softmax and no
 * labels), else the input of the classifier head. tx_model_prepare is called at the end.
 */
#ifndef TX_TFLITE_IMPORT_H
#define TX_TFLITE_IMPORT_H

#include "graph/graph.h"
#include "io/tflite.h"

typedef struct tx_tflite_import_opts {
    const char *labels;   /* label file (one class name a line) or NULL */
    int float_graph;      /* 1: the dequantized float graph */
    int no_fake_quant;    /* float graph: 0 (default): nodes made from 8-bit tensors round
                             their outputs to the tensor's grid (node.fq, straight-through
                             gradient), so the float graph keeps the integer model's
                             decisions; 1: plain float32 */
    int qmode;            /* tx_qmode for the integer graph: TX_QMODE_XNNPACK (0, TFLite's
                             default CPU path; uint8 depthwise layers the delegate refuses
                             run the reference arithmetic, as in TFLite) or
                             TX_QMODE_TFLITE_REF (TFLite's reference kernels throughout) */
} tx_tflite_import_opts;

/* Imports a parsed model. `name` (the path) starts error messages; buf/size are the file
 * bytes (for the appended label zip; may be the model's own). opts may be NULL. */
int tx_tflite_to_model(const tx_tflite_model *tf, const char *name,
                       const tx_tflite_import_opts *opts, tx_model **out, tx_err *err);
/* Parses, validates and imports a .tflite image in memory. */
int tx_tflite_import_mem(const uint8_t *buf, size_t size, const char *name,
                         const tx_tflite_import_opts *opts, tx_model **out, tx_err *err);
/* Reads path and imports it. */
int tx_tflite_import(const char *path, const tx_tflite_import_opts *opts, tx_model **out,
                     tx_err *err);

/* 1 when the bytes look like a .tflite file ("TFL3" at offset 4), else 0. */
int tx_is_tflite(const uint8_t *buf, size_t size);
/* 1 when the file at path starts like a .tflite file. */
int tx_file_is_tflite(const char *path);

/* Any model file: a .tflite (imported as above, with labels and float_graph from opts)
 * or a taxon .safetensors model (tx_model_load; then opts->labels, if given, replaces
 * the class names, and float_graph must be 0). */
int tx_model_open(const char *path, const tx_tflite_import_opts *opts, tx_model **out,
                  tx_err *err);

/* Class names from label-file text (one a line, "\r\n" or "\n", a last line without
 * newline counts, trailing empty lines do not). Returns the count in *n and a malloc'd
 * array of malloc'd strings (free with tx_labels_free). `where` names the source. */
int tx_labels_parse(const char *text, size_t len, const char *where, char ***names, int *n,
                    tx_err *err);
void tx_labels_free(char **names, int n);

/* The label file of a zip appended to a model (the bytes from `start` to `size`): its
 * contents (malloc'd, *len bytes, NUL-terminated) and its name (copied into fname).
 * Returns TX_OK, TX_EFORMAT (a malformed zip) or TX_EUNSUP (method); *text = NULL and
 * TX_OK when there is no zip or no text file in it. */
int tx_zip_find_labels(const uint8_t *buf, size_t size, size_t start, const char *where,
                       char **text, size_t *len, char *fname, size_t fname_cap, tx_err *err);

/* Normalization (mean, std per channel, in pixel units 0..255) from TFLite metadata
 * (TFLITE_METADATA buffer: ModelMetadata -> subgraph 0 -> input 0 -> NormalizationOptions).
 * Returns 1 and fills n (1 or 3 values) when found, 0 when absent, a negative TX_E* code
 * when the metadata is malformed. */
int tx_tflite_input_normalization(const tx_tflite_model *tf, float mean[3], float std[3],
                                  int *n, const char *where, tx_err *err);

#endif
