/* Stable op ids. Saved models and exports refer to these numbers: never
 * renumber or reuse one; add new ops at the end of their range. */
#ifndef TDL_OPS_OP_IDS_H
#define TDL_OPS_OP_IDS_H

enum tdl_op_id {
    TDL_OPID_INPUT = 1,
    TDL_OPID_PARAM = 2,
    TDL_OPID_CONST = 3,
    TDL_OPID_FILL = 4,

    TDL_OPID_ADD = 10,
    TDL_OPID_SUB = 11,
    TDL_OPID_MUL = 12,
    TDL_OPID_DIV = 13,
    TDL_OPID_AFFINE = 14,
    TDL_OPID_SCALE_BY_COUNT = 15,
    TDL_OPID_EQ_MASK = 16,

    TDL_OPID_MATMUL = 20,

    TDL_OPID_RESHAPE = 30,
    TDL_OPID_PERMUTE = 31,
    TDL_OPID_CONCAT = 32,
    TDL_OPID_SLICE = 33,
    TDL_OPID_SLICE_BACKWARD = 34,
    TDL_OPID_BROADCAST_TO = 35,

    TDL_OPID_SUM = 40,
    TDL_OPID_MEAN = 41,
    TDL_OPID_MAX = 42,

    TDL_OPID_RELU = 50,
    TDL_OPID_LEAKY_RELU = 51,
    TDL_OPID_ELU = 52,
    TDL_OPID_SIGMOID = 53,
    TDL_OPID_TANH = 54,
    TDL_OPID_GELU = 55,
    TDL_OPID_EXP = 56,
    TDL_OPID_LOG = 57,
    TDL_OPID_SQRT = 58,
    TDL_OPID_STEP = 59,
    TDL_OPID_GELU_D1 = 60,
    TDL_OPID_GELU_D2 = 61,

    TDL_OPID_SOFTMAX = 70,
    TDL_OPID_LOG_SOFTMAX = 71,

    TDL_OPID_DROPOUT_MASK = 80,
    TDL_OPID_STOP_GRADIENT = 81,

    TDL_OPID_XENT_ROWS = 90,
    TDL_OPID_SMOOTH_ONEHOT = 91,
    TDL_OPID_BCE_LOGITS = 92
};

#endif
