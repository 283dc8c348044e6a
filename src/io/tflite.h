/* tflite.h - reading TensorFlow Lite model files (.tflite) into plain C structs.
 *
 * A .tflite file is a FlatBuffer (schema "TFL3", root table Model). There is no C
 * flatbuffers library in Debian 12, so tflite.c reads the format by hand: every
 * offset, vtable, field, vector length and string is checked against the buffer
 * before it is used, and a malformed file gives a message such as
 *   "model.tflite: subgraph 0 tensor 12 'Conv2d_0/weights': buffer index 400 out
 *    of range (buffers: 87)"
 * instead of a crash.
 *
 * The parsed view (tx_tflite_model) is what later code turns into taxon's graph:
 * operator codes, subgraphs (tensors with shape, type, quantization and constant
 * data; operators with decoded builtin options), buffers and metadata. Strings and
 * constant data point into the file buffer; everything else (shapes, index lists,
 * quantization vectors) is copied into memory owned by the model, so every array
 * here is naturally aligned whatever the file's alignment.
 *
 * tx_tflite_parse validates as well as parses (tx_tflite_validate, below): indices in
 * range, constant data exactly as large as shape x type, quantization vectors
 * consistent. A model that parses can be walked without further bounds checks.
 */
#ifndef TX_TFLITE_H
#define TX_TFLITE_H

#include "core/core.h"

/* ---- tensor types (TensorType in the schema) ----------------------------- */

#define TX_TFLITE_TYPES(X)                                                        \
    X(FLOAT32, 0) X(FLOAT16, 1) X(INT32, 2) X(UINT8, 3) X(INT64, 4) X(STRING, 5)  \
    X(BOOL, 6) X(INT16, 7) X(COMPLEX64, 8) X(INT8, 9) X(FLOAT64, 10)              \
    X(COMPLEX128, 11) X(UINT64, 12) X(RESOURCE, 13) X(VARIANT, 14) X(UINT32, 15)  \
    X(UINT16, 16) X(INT4, 17) X(BFLOAT16, 18)

enum {
#define TX_TFL_TYPE_ENUM_(name, v) TX_TFL_##name = v,
    TX_TFLITE_TYPES(TX_TFL_TYPE_ENUM_)
#undef TX_TFL_TYPE_ENUM_
    TX_TFL_TYPE_COUNT = 19
};

/* "FLOAT32", "UINT8", ...; "?" for a value outside the table. */
const char *tx_tflite_type_name(int type);
/* Bytes per element; 0 for types without a fixed element size (STRING, RESOURCE,
 * VARIANT, INT4 which packs two elements a byte) and for unknown values. */
size_t tx_tflite_type_size(int type);

/* ---- builtin operators (BuiltinOperator in the schema) -------------------- */

#define TX_TFLITE_OPS(X)                                                          \
    X(ADD, 0) X(AVERAGE_POOL_2D, 1) X(CONCATENATION, 2) X(CONV_2D, 3)             \
    X(DEPTHWISE_CONV_2D, 4) X(DEPTH_TO_SPACE, 5) X(DEQUANTIZE, 6)                 \
    X(EMBEDDING_LOOKUP, 7) X(FLOOR, 8) X(FULLY_CONNECTED, 9)                      \
    X(HASHTABLE_LOOKUP, 10) X(L2_NORMALIZATION, 11) X(L2_POOL_2D, 12)             \
    X(LOCAL_RESPONSE_NORMALIZATION, 13) X(LOGISTIC, 14) X(LSH_PROJECTION, 15)     \
    X(LSTM, 16) X(MAX_POOL_2D, 17) X(MUL, 18) X(RELU, 19) X(RELU_N1_TO_1, 20)     \
    X(RELU6, 21) X(RESHAPE, 22) X(RESIZE_BILINEAR, 23) X(RNN, 24) X(SOFTMAX, 25)  \
    X(SPACE_TO_DEPTH, 26) X(SVDF, 27) X(TANH, 28) X(CONCAT_EMBEDDINGS, 29)        \
    X(SKIP_GRAM, 30) X(CALL, 31) X(CUSTOM, 32) X(EMBEDDING_LOOKUP_SPARSE, 33)     \
    X(PAD, 34) X(UNIDIRECTIONAL_SEQUENCE_RNN, 35) X(GATHER, 36)                   \
    X(BATCH_TO_SPACE_ND, 37) X(SPACE_TO_BATCH_ND, 38) X(TRANSPOSE, 39)            \
    X(MEAN, 40) X(SUB, 41) X(DIV, 42) X(SQUEEZE, 43)                              \
    X(UNIDIRECTIONAL_SEQUENCE_LSTM, 44) X(STRIDED_SLICE, 45)                      \
    X(BIDIRECTIONAL_SEQUENCE_RNN, 46) X(EXP, 47) X(TOPK_V2, 48) X(SPLIT, 49)      \
    X(LOG_SOFTMAX, 50) X(DELEGATE, 51) X(BIDIRECTIONAL_SEQUENCE_LSTM, 52)         \
    X(CAST, 53) X(PRELU, 54) X(MAXIMUM, 55) X(ARG_MAX, 56) X(MINIMUM, 57)         \
    X(LESS, 58) X(NEG, 59) X(PADV2, 60) X(GREATER, 61) X(GREATER_EQUAL, 62)       \
    X(LESS_EQUAL, 63) X(SELECT, 64) X(SLICE, 65) X(SIN, 66)                       \
    X(TRANSPOSE_CONV, 67) X(SPARSE_TO_DENSE, 68) X(TILE, 69) X(EXPAND_DIMS, 70)   \
    X(EQUAL, 71) X(NOT_EQUAL, 72) X(LOG, 73) X(SUM, 74) X(SQRT, 75) X(RSQRT, 76)  \
    X(SHAPE, 77) X(POW, 78) X(ARG_MIN, 79) X(FAKE_QUANT, 80) X(REDUCE_PROD, 81)   \
    X(REDUCE_MAX, 82) X(PACK, 83) X(LOGICAL_OR, 84) X(ONE_HOT, 85)                \
    X(LOGICAL_AND, 86) X(LOGICAL_NOT, 87) X(UNPACK, 88) X(REDUCE_MIN, 89)         \
    X(FLOOR_DIV, 90) X(REDUCE_ANY, 91) X(SQUARE, 92) X(ZEROS_LIKE, 93) X(FILL, 94) \
    X(FLOOR_MOD, 95) X(RANGE, 96) X(RESIZE_NEAREST_NEIGHBOR, 97)                  \
    X(LEAKY_RELU, 98) X(SQUARED_DIFFERENCE, 99) X(MIRROR_PAD, 100) X(ABS, 101)    \
    X(SPLIT_V, 102) X(UNIQUE, 103) X(CEIL, 104) X(REVERSE_V2, 105) X(ADD_N, 106)  \
    X(GATHER_ND, 107) X(COS, 108) X(WHERE, 109) X(RANK, 110) X(ELU, 111)          \
    X(REVERSE_SEQUENCE, 112) X(MATRIX_DIAG, 113) X(QUANTIZE, 114)                 \
    X(MATRIX_SET_DIAG, 115) X(ROUND, 116) X(HARD_SWISH, 117) X(IF, 118)           \
    X(WHILE, 119) X(NON_MAX_SUPPRESSION_V4, 120) X(NON_MAX_SUPPRESSION_V5, 121)   \
    X(SCATTER_ND, 122) X(SELECT_V2, 123) X(DENSIFY, 124) X(SEGMENT_SUM, 125)      \
    X(BATCH_MATMUL, 126) X(PLACEHOLDER_FOR_GREATER_OP_CODES, 127) X(CUMSUM, 128)  \
    X(CALL_ONCE, 129) X(BROADCAST_TO, 130) X(RFFT2D, 131) X(CONV_3D, 132)         \
    X(IMAG, 133) X(REAL, 134) X(COMPLEX_ABS, 135) X(HASHTABLE, 136)               \
    X(HASHTABLE_FIND, 137) X(HASHTABLE_IMPORT, 138) X(HASHTABLE_SIZE, 139)        \
    X(REDUCE_ALL, 140) X(CONV_3D_TRANSPOSE, 141) X(VAR_HANDLE, 142)               \
    X(READ_VARIABLE, 143) X(ASSIGN_VARIABLE, 144) X(BROADCAST_ARGS, 145)          \
    X(RANDOM_STANDARD_NORMAL, 146) X(BUCKETIZE, 147) X(RANDOM_UNIFORM, 148)       \
    X(MULTINOMIAL, 149) X(GELU, 150) X(DYNAMIC_UPDATE_SLICE, 151)                 \
    X(RELU_0_TO_1, 152) X(UNSORTED_SEGMENT_PROD, 153) X(UNSORTED_SEGMENT_MAX, 154) \
    X(UNSORTED_SEGMENT_SUM, 155) X(ATAN2, 156) X(UNSORTED_SEGMENT_MIN, 157)       \
    X(SIGN, 158) X(BITCAST, 159) X(BITWISE_XOR, 160) X(RIGHT_SHIFT, 161)          \
    X(STABLEHLO_LOGISTIC, 162) X(STABLEHLO_ADD, 163) X(STABLEHLO_DIVIDE, 164)     \
    X(STABLEHLO_MULTIPLY, 165) X(STABLEHLO_MAXIMUM, 166) X(STABLEHLO_RESHAPE, 167) \
    X(STABLEHLO_CLAMP, 168) X(STABLEHLO_CONCATENATE, 169)                         \
    X(STABLEHLO_BROADCAST_IN_DIM, 170) X(STABLEHLO_CONVOLUTION, 171)              \
    X(STABLEHLO_SLICE, 172) X(STABLEHLO_CUSTOM_CALL, 173) X(STABLEHLO_REDUCE, 174) \
    X(STABLEHLO_ABS, 175) X(STABLEHLO_AND, 176) X(STABLEHLO_COSINE, 177)          \
    X(STABLEHLO_EXPONENTIAL, 178) X(STABLEHLO_FLOOR, 179) X(STABLEHLO_LOG, 180)   \
    X(STABLEHLO_MINIMUM, 181) X(STABLEHLO_NEGATE, 182) X(STABLEHLO_OR, 183)       \
    X(STABLEHLO_POWER, 184) X(STABLEHLO_REMAINDER, 185) X(STABLEHLO_RSQRT, 186)   \
    X(STABLEHLO_SELECT, 187) X(STABLEHLO_SUBTRACT, 188) X(STABLEHLO_TANH, 189)    \
    X(STABLEHLO_SCATTER, 190) X(STABLEHLO_COMPARE, 191) X(STABLEHLO_CONVERT, 192) \
    X(STABLEHLO_DYNAMIC_SLICE, 193) X(STABLEHLO_DYNAMIC_UPDATE_SLICE, 194)        \
    X(STABLEHLO_PAD, 195) X(STABLEHLO_IOTA, 196) X(STABLEHLO_DOT_GENERAL, 197)    \
    X(STABLEHLO_REDUCE_WINDOW, 198) X(STABLEHLO_SORT, 199) X(STABLEHLO_WHILE, 200) \
    X(STABLEHLO_GATHER, 201) X(STABLEHLO_TRANSPOSE, 202) X(DILATE, 203)           \
    X(STABLEHLO_RNG_BIT_GENERATOR, 204) X(REDUCE_WINDOW, 205)                     \
    X(STABLEHLO_COMPOSITE, 206) X(STABLEHLO_SHIFT_LEFT, 207) X(STABLEHLO_CBRT, 208) \
    X(STABLEHLO_CASE, 209)

enum {
#define TX_TFL_OP_ENUM_(name, v) TX_TFL_OP_##name = v,
    TX_TFLITE_OPS(TX_TFL_OP_ENUM_)
#undef TX_TFL_OP_ENUM_
    TX_TFL_OP_COUNT = 210 /* codes at or above this are newer than this reader */
};

/* "CONV_2D", "HARD_SWISH", ...; "?" for codes this reader does not know (a model
 * may still carry them: parsing does not fail on an unknown builtin code). */
const char *tx_tflite_op_name(int32_t code);

/* ---- option enums ----------------------------------------------------------- */

enum { TX_TFL_PAD_SAME = 0, TX_TFL_PAD_VALID = 1 };
enum {
    TX_TFL_ACT_NONE = 0, TX_TFL_ACT_RELU = 1, TX_TFL_ACT_RELU_N1_TO_1 = 2,
    TX_TFL_ACT_RELU6 = 3, TX_TFL_ACT_TANH = 4, TX_TFL_ACT_SIGN_BIT = 5
};
const char *tx_tflite_act_name(int act);     /* "NONE", "RELU6", ... */
const char *tx_tflite_padding_name(int pad); /* "SAME", "VALID" */

/* BuiltinOptions union members this reader decodes (the union's type ids). Any other
 * non-zero options type is kept as its id only (tx_tflite_op.options_type). */
enum {
    TX_TFL_OPT_NONE = 0,
    TX_TFL_OPT_CONV2D = 1,
    TX_TFL_OPT_DEPTHWISE_CONV2D = 2,
    TX_TFL_OPT_POOL2D = 5,
    TX_TFL_OPT_FULLY_CONNECTED = 8,
    TX_TFL_OPT_SOFTMAX = 9,
    TX_TFL_OPT_CONCATENATION = 10,
    TX_TFL_OPT_ADD = 11,
    TX_TFL_OPT_L2_NORM = 12,
    TX_TFL_OPT_RESIZE_BILINEAR = 15,
    TX_TFL_OPT_RESHAPE = 17,
    TX_TFL_OPT_SPACE_TO_DEPTH = 19,
    TX_TFL_OPT_MUL = 21,
    TX_TFL_OPT_PAD = 22,
    TX_TFL_OPT_GATHER = 23,
    TX_TFL_OPT_TRANSPOSE = 26,
    TX_TFL_OPT_REDUCER = 27,
    TX_TFL_OPT_SUB = 28,
    TX_TFL_OPT_DIV = 29,
    TX_TFL_OPT_SQUEEZE = 30,
    TX_TFL_OPT_STRIDED_SLICE = 32,
    TX_TFL_OPT_SPLIT = 35,
    TX_TFL_OPT_DEQUANTIZE = 38,
    TX_TFL_OPT_MAXIMUM_MINIMUM = 39,
    TX_TFL_OPT_PADV2 = 43,
    TX_TFL_OPT_TRANSPOSE_CONV = 49,
    TX_TFL_OPT_PACK = 59,
    TX_TFL_OPT_UNPACK = 64,
    TX_TFL_OPT_RESIZE_NEAREST_NEIGHBOR = 74,
    TX_TFL_OPT_LEAKY_RELU = 75,
    TX_TFL_OPT_QUANTIZE = 89,
    TX_TFL_OPT_HARD_SWISH = 91,
    TX_TFL_OPT_DEPTH_TO_SPACE = 94,
    TX_TFL_OPT_BATCH_MATMUL = 101,
    TX_TFL_OPT_GELU = 116,
};
/* "Conv2DOptions", ... for the ids above; "?" otherwise. */
const char *tx_tflite_options_name(int options_type);
/* The options type TFLite reads for a builtin code (TX_TFL_OPT_*), or -1 when this
 * reader has no opinion about that operator. */
int tx_tflite_op_options_type(int32_t code);

/* ---- the model view ------------------------------------------------------------ */

/* Affine quantization: real = scale[i] * (q - zero_point[i]), i = 0 for per-tensor,
 * else the index along quantized_dimension (per-channel, n == that dimension's size).
 * n == 0: the tensor is not quantized (no table, or a table without scales). */
typedef struct tx_tflite_quant {
    int32_t n;
    const float *scale;          /* n */
    const int64_t *zero_point;   /* n */
    int32_t quantized_dimension;
    int32_t n_min, n_max;        /* the optional float ranges (for importing back) */
    const float *min, *max;
    uint8_t details_type;        /* non-zero: custom/blockwise quantization (unsupported) */
} tx_tflite_quant;

typedef struct tx_tflite_tensor {
    const char *name;            /* never NULL ("" when the file has none) */
    int32_t ndim;
    const int32_t *shape;        /* ndim entries, each >= 0 */
    int32_t ndim_signature;      /* shape_signature (-1 = unknown dimension), 0 if absent */
    const int32_t *shape_signature;
    int32_t type;                /* TX_TFL_FLOAT32, ... (values beyond the table are kept) */
    uint32_t buffer;             /* index into model.buffers (< n_buffers, checked) */
    uint8_t is_variable, has_rank, is_sparse; /* is_sparse: has SparsityParameters */
    tx_tflite_quant q;
    /* Constant data: the buffer's bytes (NULL/0 when the buffer is empty, i.e. the
     * tensor is an activation or variable). When non-empty, nbytes == numel x
     * tx_tflite_type_size(type) (checked for dense fixed-size types; not checked for
     * STRING/RESOURCE/VARIANT or sparse tensors, which later code must refuse).
     * Little-endian, and not necessarily aligned: converters align buffers to 16
     * bytes but a hostile file need not, so copy (memcpy) before reading wider types. */
    const uint8_t *data;
    size_t nbytes;
    int64_t numel;               /* product of shape (1 for a scalar) */
} tx_tflite_tensor;

typedef struct tx_tflite_opcode {
    int32_t builtin;             /* max(deprecated_builtin_code, builtin_code), as TFLite */
    int8_t deprecated_builtin;   /* the raw fields, for diagnostics */
    int32_t builtin_raw;
    int32_t version;             /* default 1 */
    const char *custom;          /* custom_code, NULL for builtins */
} tx_tflite_opcode;

typedef struct { int32_t padding, stride_w, stride_h, activation, dilation_w, dilation_h,
                         quantized_bias_type; } tx_tflite_conv2d_opts;
typedef struct { int32_t padding, stride_w, stride_h, depth_multiplier, activation,
                         dilation_w, dilation_h; } tx_tflite_dwconv2d_opts;
typedef struct { int32_t padding, stride_w, stride_h, filter_w, filter_h,
                         activation; } tx_tflite_pool2d_opts;
typedef struct { int32_t activation, weights_format, keep_num_dims,
                         asymmetric_quantize_inputs, quantized_bias_type; } tx_tflite_fc_opts;
typedef struct { int32_t padding, stride_w, stride_h, activation,
                         quantized_bias_type; } tx_tflite_transpose_conv_opts;
typedef struct { int32_t n; const int32_t *v; uint8_t present; } tx_tflite_ivec;

typedef struct tx_tflite_options {
    tx_tflite_conv2d_opts conv2d;          /* CONV_2D */
    tx_tflite_dwconv2d_opts dwconv2d;      /* DEPTHWISE_CONV_2D */
    tx_tflite_pool2d_opts pool2d;          /* AVERAGE/MAX/L2_POOL_2D */
    tx_tflite_fc_opts fc;                  /* FULLY_CONNECTED */
    tx_tflite_transpose_conv_opts tconv;   /* TRANSPOSE_CONV */
    /* ADD, SUB, MUL, DIV, CONCATENATION, L2_NORMALIZATION */
    int32_t activation;
    int32_t pot_scale_int16;               /* ADD, SUB (default 1) */
    int32_t axis;                          /* CONCATENATION, GATHER, PACK, UNPACK */
    int32_t batch_dims;                    /* GATHER */
    int32_t count;                         /* PACK values_count, UNPACK num, SPLIT num_splits */
    int32_t keep_dims;                     /* MEAN, SUM, REDUCE_* */
    float beta;                            /* SOFTMAX */
    float alpha;                           /* LEAKY_RELU */
    int32_t align_corners, half_pixel_centers; /* RESIZE_* */
    int32_t block_size;                    /* SPACE_TO_DEPTH, DEPTH_TO_SPACE */
    int32_t begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask,
            offset;                        /* STRIDED_SLICE */
    int32_t adj_x, adj_y;                  /* BATCH_MATMUL */
    int32_t approximate;                   /* GELU */
    tx_tflite_ivec new_shape;              /* RESHAPE (present == 0: use the shape input) */
    tx_tflite_ivec squeeze_dims;           /* SQUEEZE */
} tx_tflite_options;

typedef struct tx_tflite_op {
    uint32_t opcode_index;       /* < n_opcodes (checked) */
    int32_t builtin;             /* opcodes[opcode_index].builtin, copied for convenience */
    int32_t n_inputs, n_outputs, n_intermediates;
    const int32_t *inputs;       /* tensor indices; -1 = optional input absent */
    const int32_t *outputs;      /* tensor indices (never -1) */
    const int32_t *intermediates;
    /* builtin_options: its union type id and, for the ids this reader decodes, the
     * values; fields not stored in the file hold the schema's defaults (for an op
     * whose options table is absent too, so opt is always usable). */
    uint8_t options_type;
    uint8_t options2_type;       /* builtin_options_2 (StableHLO ops), id only */
    tx_tflite_options opt;
    const uint8_t *custom_options; /* inside the file; NULL/0 when absent */
    size_t custom_options_size;
} tx_tflite_op;

typedef struct tx_tflite_subgraph {
    const char *name;            /* never NULL */
    int32_t n_tensors, n_inputs, n_outputs, n_ops;
    tx_tflite_tensor *tensors;
    const int32_t *inputs, *outputs; /* tensor indices, checked */
    tx_tflite_op *ops;           /* in execution order */
} tx_tflite_subgraph;

typedef struct tx_tflite_buffer {
    const uint8_t *data;         /* inside the file; NULL when size == 0 */
    size_t size;
    uint8_t external;            /* stored past the flatbuffer (Buffer.offset/size) */
} tx_tflite_buffer;

typedef struct tx_tflite_metadata {
    const char *name;            /* never NULL */
    uint32_t buffer;             /* < n_buffers (checked) */
} tx_tflite_metadata;

typedef struct tx_tflite_model {
    uint8_t *owned;              /* file contents when loaded by tx_tflite_load */
    const uint8_t *buf;          /* the bytes everything points into */
    size_t size;
    /* One past the last byte the model uses (tables, vectors, strings, buffer data,
     * external buffers). Bytes beyond it are trailing data that TFLite ignores: files
     * with TFLite metadata append a zip of their associated files there (the
     * MobileNet classifiers in ../shared/models carry their label file that way). */
    size_t used_size;
    uint32_t version;            /* schema version: 3 */
    const char *description;     /* never NULL */
    int32_t n_opcodes, n_subgraphs, n_buffers, n_metadata, n_signatures;
    tx_tflite_opcode *opcodes;
    tx_tflite_subgraph *subgraphs;
    tx_tflite_buffer *buffers;
    tx_tflite_metadata *metadata;
    void *arena_;                /* private: the memory behind the arrays above */
} tx_tflite_model;

/* Parses and validates a .tflite image. `buf` is borrowed: strings, constant data and
 * custom options point into it, so it must outlive the model. `name` (e.g. the path)
 * starts every error message. On failure *out is left empty (safe to free). */
int tx_tflite_parse(const uint8_t *buf, size_t size, const char *name,
                    tx_tflite_model *out, tx_err *err);
/* Reads the file and parses it; the model owns the bytes. */
int tx_tflite_load(const char *path, tx_tflite_model *out, tx_err *err);
void tx_tflite_free(tx_tflite_model *m);

/* The checks tx_tflite_parse runs after reading (exposed for code that edits a
 * model view): every tensor's buffer index in range and constant data size equal to
 * shape x type size; quantization vectors of equal length, 1 or the size of the
 * quantized dimension, finite non-negative scales; every operator's opcode index and
 * tensor indices in range (-1 only for inputs); subgraph inputs/outputs in range;
 * strides, dilations, filter sizes >= 1 and padding/activation enums known for the
 * decoded convolution and pooling options. */
int tx_tflite_validate(const tx_tflite_model *m, const char *name, tx_err *err);

/* Writes a printable, truncated form of a (possibly hostile) name into out, for
 * messages: control and non-ASCII bytes become '?', long names end in "...". */
void tx_tflite_safe_name(char *out, size_t cap, const char *name);

#endif
