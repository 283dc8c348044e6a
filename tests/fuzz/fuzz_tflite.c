/* fuzz_tflite.c - libFuzzer target for the .tflite reader.
 * Parses the input, then walks every decoded field and checks what tflite.h promises
 * to later code: every pointer lies inside the input, every index is in range, shapes
 * and constant data agree, quantization vectors are consistent. Touches every byte a
 * pointer claims, so ASan sees any pointer that escaped the buffer. A failed parse
 * must explain itself and leave the output empty. */
#include "io/tflite.h"

#include <stdint.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const uint8_t *base, size_t size, const void *p, size_t n) {
    const uint8_t *q = p;
    return q >= base && q <= base + size && n <= (size_t)(base + size - q);
}

static uint8_t touch(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc ^= p[i];
    return acc;
}

static size_t str_checked(const uint8_t *base, size_t size, const char *s) {
    REQUIRE(s != NULL);
    REQUIRE(inside(base, size, s, 1) || s[0] == 0); /* "" may be a literal */
    return strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tx_tflite_model m;
    tx_err err;
    err.msg[0] = 0;
    int rc = tx_tflite_parse(data, size, "fuzz.tflite", &m, &err);
    if (rc != TX_OK) {
        REQUIRE(rc < 0);
        REQUIRE(err.msg[0] != 0 && strlen(err.msg) < sizeof err.msg);
        REQUIRE(strncmp(err.msg, "fuzz.tflite: ", 13) == 0);
        REQUIRE(m.subgraphs == NULL && m.n_subgraphs == 0 && m.arena_ == NULL &&
                m.buffers == NULL && m.opcodes == NULL);
        tx_tflite_free(&m);
        return 0;
    }
    volatile uint8_t sink = 0;
    REQUIRE(m.buf == data && m.size == size && m.owned == NULL);
    REQUIRE(m.used_size <= size && m.version == 3);
    sink ^= (uint8_t)str_checked(data, size, m.description);
    for (int32_t i = 0; i < m.n_buffers; i++) {
        const tx_tflite_buffer *b = &m.buffers[i];
        REQUIRE((b->size == 0) == (b->data == NULL));
        if (b->size) {
            REQUIRE(inside(data, size, b->data, b->size));
            REQUIRE((size_t)(b->data - data) + b->size <= m.used_size);
            sink ^= touch(b->data, b->size);
        }
    }
    for (int32_t i = 0; i < m.n_opcodes; i++) {
        const tx_tflite_opcode *c = &m.opcodes[i];
        REQUIRE(c->builtin >= 0);
        REQUIRE(c->builtin == (c->builtin_raw > c->deprecated_builtin ? c->builtin_raw
                                                                       : c->deprecated_builtin));
        if (c->custom) sink ^= (uint8_t)str_checked(data, size, c->custom);
        REQUIRE(c->builtin != TX_TFL_OP_CUSTOM || c->custom != NULL);
        sink ^= (uint8_t)strlen(tx_tflite_op_name(c->builtin));
    }
    for (int32_t i = 0; i < m.n_metadata; i++) {
        sink ^= (uint8_t)str_checked(data, size, m.metadata[i].name);
        REQUIRE(m.metadata[i].buffer < (uint32_t)m.n_buffers);
    }
    REQUIRE(m.n_subgraphs >= 1);
    for (int32_t s = 0; s < m.n_subgraphs; s++) {
        const tx_tflite_subgraph *sg = &m.subgraphs[s];
        sink ^= (uint8_t)str_checked(data, size, sg->name);
        for (int32_t i = 0; i < sg->n_tensors; i++) {
            const tx_tflite_tensor *t = &sg->tensors[i];
            char safe[64];
            sink ^= (uint8_t)str_checked(data, size, t->name);
            tx_tflite_safe_name(safe, sizeof safe, t->name);
            REQUIRE(strlen(safe) < sizeof safe);
            REQUIRE(t->type >= 0 && t->type < TX_TFL_TYPE_COUNT);
            REQUIRE(strcmp(tx_tflite_type_name(t->type), "?") != 0);
            REQUIRE(t->buffer < (uint32_t)m.n_buffers);
            REQUIRE(t->ndim >= 0 && (t->ndim == 0 || t->shape != NULL));
            /* the element count fits in int64 unless a zero dimension makes it 0 */
            uint64_t numel = 1;
            int zero = 0, overflow = 0;
            for (int32_t d = 0; d < t->ndim; d++) {
                REQUIRE(t->shape[d] >= 0);
                if (t->shape[d] == 0) zero = 1;
                else if (numel > (uint64_t)INT64_MAX / (uint64_t)t->shape[d]) overflow = 1;
                else numel *= (uint64_t)t->shape[d];
            }
            REQUIRE(zero || !overflow);
            if (zero) numel = 0;
            REQUIRE(t->numel == (int64_t)numel);
            for (int32_t d = 0; d < t->ndim_signature; d++) sink ^= (uint8_t)t->shape_signature[d];
            REQUIRE(t->data == m.buffers[t->buffer].data && t->nbytes == m.buffers[t->buffer].size);
            size_t esz = tx_tflite_type_size(t->type);
            if (t->nbytes && !t->is_sparse) {
                if (esz) REQUIRE(numel * esz == t->nbytes);
                else if (t->type == TX_TFL_INT4) REQUIRE((numel + 1) / 2 == t->nbytes);
            }
            const tx_tflite_quant *q = &t->q;
            REQUIRE(q->n >= 0);
            if (q->n > 0) {
                REQUIRE(q->scale && q->zero_point);
                if (q->n > 1)
                    REQUIRE(q->quantized_dimension >= 0 && q->quantized_dimension < t->ndim &&
                            t->shape[q->quantized_dimension] == q->n);
                for (int32_t k = 0; k < q->n; k++) {
                    REQUIRE(q->scale[k] >= 0 && q->scale[k] <= 3.5e38f);
                    if (t->type == TX_TFL_UINT8) REQUIRE(q->zero_point[k] >= 0 && q->zero_point[k] <= 255);
                    if (t->type == TX_TFL_INT8) REQUIRE(q->zero_point[k] >= -128 && q->zero_point[k] <= 127);
                    sink ^= (uint8_t)q->zero_point[k];
                }
            }
            for (int32_t k = 0; k < q->n_min; k++) sink ^= (uint8_t)(q->min[k] > 0); /* floats: any value, NaN too */
            for (int32_t k = 0; k < q->n_max; k++) sink ^= (uint8_t)(q->max[k] > 0);
        }
        for (int32_t k = 0; k < sg->n_inputs; k++)
            REQUIRE(sg->inputs[k] >= 0 && sg->inputs[k] < sg->n_tensors);
        for (int32_t k = 0; k < sg->n_outputs; k++)
            REQUIRE(sg->outputs[k] >= 0 && sg->outputs[k] < sg->n_tensors);
        for (int32_t i = 0; i < sg->n_ops; i++) {
            const tx_tflite_op *op = &sg->ops[i];
            REQUIRE(op->opcode_index < (uint32_t)m.n_opcodes);
            REQUIRE(op->builtin == m.opcodes[op->opcode_index].builtin);
            for (int32_t k = 0; k < op->n_inputs; k++)
                REQUIRE(op->inputs[k] >= -1 && op->inputs[k] < sg->n_tensors);
            for (int32_t k = 0; k < op->n_outputs; k++)
                REQUIRE(op->outputs[k] >= 0 && op->outputs[k] < sg->n_tensors);
            for (int32_t k = 0; k < op->n_intermediates; k++)
                REQUIRE(op->intermediates[k] >= 0 && op->intermediates[k] < sg->n_tensors);
            int want = tx_tflite_op_options_type(op->builtin);
            REQUIRE(op->options_type == 0 || want < 0 || op->options_type == want);
            const tx_tflite_options *o = &op->opt;
            if (op->builtin == TX_TFL_OP_CONV_2D)
                REQUIRE(o->conv2d.stride_w >= 1 && o->conv2d.stride_h >= 1 &&
                        o->conv2d.dilation_w >= 1 && o->conv2d.dilation_h >= 1 &&
                        (o->conv2d.padding == 0 || o->conv2d.padding == 1) &&
                        strcmp(tx_tflite_act_name(o->conv2d.activation), "?") != 0);
            if (op->builtin == TX_TFL_OP_DEPTHWISE_CONV_2D)
                REQUIRE(o->dwconv2d.stride_w >= 1 && o->dwconv2d.stride_h >= 1 &&
                        o->dwconv2d.dilation_w >= 1 && o->dwconv2d.dilation_h >= 1 &&
                        o->dwconv2d.depth_multiplier >= 0);
            if (op->builtin == TX_TFL_OP_AVERAGE_POOL_2D || op->builtin == TX_TFL_OP_MAX_POOL_2D)
                REQUIRE(o->pool2d.stride_w >= 1 && o->pool2d.filter_w >= 1 &&
                        o->pool2d.stride_h >= 1 && o->pool2d.filter_h >= 1);
            REQUIRE(o->new_shape.n >= 0 && (o->new_shape.n == 0 || o->new_shape.v));
            for (int32_t k = 0; k < o->new_shape.n; k++) sink ^= (uint8_t)o->new_shape.v[k];
            for (int32_t k = 0; k < o->squeeze_dims.n; k++) sink ^= (uint8_t)o->squeeze_dims.v[k];
            sink ^= (uint8_t)strlen(tx_tflite_options_name(op->options_type));
            if (op->custom_options_size) {
                REQUIRE(inside(data, size, op->custom_options, op->custom_options_size));
                sink ^= touch(op->custom_options, op->custom_options_size);
            } else {
                REQUIRE(op->custom_options == NULL);
            }
        }
    }
    /* Validation is a pure function of the model: running it again agrees. */
    REQUIRE(tx_tflite_validate(&m, "fuzz.tflite", &err) == TX_OK);
    (void)sink;
    tx_tflite_free(&m);
    REQUIRE(m.subgraphs == NULL);
    return 0;
}
