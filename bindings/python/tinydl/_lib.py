"""Loading libtiny-dl.so.1 and declaring the C functions the binding uses.

Every declaration below is written by hand from the public headers in
include/tiny-dl/ (nothing is generated at build time). tests/test_declarations.py
parses those headers and checks that each function declared here exists there
with the same number of parameters and matching scalar types.

Where the library is looked for, in order:

1. the environment variable ``TINYDL_LIBRARY`` (the full path of the .so);
2. the dynamic loader's standard search path (``libtiny-dl.so.1``: LD_LIBRARY_PATH,
   the ld.so cache, /usr/lib...), then ``ctypes.util.find_library("tiny-dl")``;
3. ``pkg-config --variable=libdir tiny-dl`` joined with ``libtiny-dl.so.1``.
"""

import ctypes
import ctypes.util
import os
import subprocess

from ctypes import (CFUNCTYPE, POINTER, c_char, c_char_p, c_double, c_float, c_int32, c_int64,
                    c_size_t, c_uint32, c_uint64, c_void_p)

SONAME = "libtiny-dl.so.1"

# Opaque handles (tdl_ctx *, tdl_graph *, tdl_node *, ...) are plain addresses:
# c_void_p returns them as Python ints (None for NULL).
_h = c_void_p
_status = c_int32          # tdl_status
_dtype = c_int32           # tdl_dtype
_str = c_char_p            # const char * (NUL-terminated)
_i64p = POINTER(c_int64)   # int64_t * (shapes)
_i32p = POINTER(c_int32)   # int32_t *
_data = c_void_p           # const void * / const float * / const int32_t * data buffers

#: void (*)(int32_t level, const char *message, void *user)
LOG_FN = CFUNCTYPE(None, c_int32, c_char_p, c_void_p)
#: void *(*)(size_t size, void *user)
MALLOC_FN = CFUNCTYPE(c_void_p, c_size_t, c_void_p)
#: void *(*)(void *ptr, size_t size, void *user)
REALLOC_FN = CFUNCTYPE(c_void_p, c_void_p, c_size_t, c_void_p)
#: void (*)(void *ptr, void *user)
FREE_FN = CFUNCTYPE(None, c_void_p, c_void_p)

# name: (restype, [argtypes]) -- in header order.
FUNCTIONS = {
    # core.h
    "tdl_version": (_str, []),
    "tdl_version_number": (c_uint32, []),
    "tdl_build_info": (_str, []),
    "tdl_status_string": (_str, [_status]),
    "tdl_last_error": (_str, []),
    "tdl_ctx_create": (_status, [POINTER(c_void_p)]),
    "tdl_ctx_create_with_allocator": (_status, [POINTER(c_void_p), MALLOC_FN, REALLOC_FN,
                                                FREE_FN, c_void_p]),
    "tdl_ctx_destroy": (None, [_h]),
    "tdl_ctx_set_threads": (_status, [_h, c_int32]),
    "tdl_ctx_get_threads": (c_int32, [_h]),
    "tdl_ctx_set_seed": (_status, [_h, c_uint64]),
    "tdl_ctx_get_seed": (c_uint64, [_h]),
    "tdl_ctx_set_log": (_status, [_h, LOG_FN, c_int32, c_void_p]),
    "tdl_ctx_error": (_str, [_h]),
    # graph.h
    "tdl_graph_create": (_status, [_h, POINTER(c_void_p)]),
    "tdl_graph_destroy": (None, [_h]),
    "tdl_graph_error": (_str, [_h]),
    "tdl_graph_status": (_status, [_h]),
    "tdl_graph_compile": (_status, [_h]),
    "tdl_graph_set_training": (_status, [_h, c_int32]),
    "tdl_graph_set_check_finite": (_status, [_h, c_int32]),
    "tdl_feed": (_status, [_h, _h, _data, c_int32, _i64p]),
    "tdl_forward": (_status, [_h]),
    "tdl_run": (_status, [_h, _h]),
    "tdl_build_gradients": (_status, [_h, _h]),
    "tdl_backward": (_status, [_h, _h]),
    "tdl_grad": (_h, [_h, _h, _h]),
    "tdl_node_shape": (_status, [_h, _i32p, _i64p]),
    "tdl_node_value_shape": (_status, [_h, _i32p, _i64p]),
    "tdl_node_dtype": (_dtype, [_h]),
    "tdl_node_name": (_str, [_h]),
    "tdl_node_op": (_str, [_h]),
    "tdl_node_read": (_status, [_h, c_void_p, c_size_t]),
    "tdl_node_data": (c_void_p, [_h]),
    "tdl_graph_find": (_h, [_h, _str]),
    "tdl_graph_param_count": (c_int64, [_h]),
    "tdl_graph_param": (_h, [_h, c_int64]),
    "tdl_graph_param_elements": (c_int64, [_h]),
    "tdl_param_data": (c_void_p, [_h]),
    "tdl_param_grad": (c_void_p, [_h]),
    "tdl_param_set_trainable": (_status, [_h, c_int32]),
    "tdl_param_trainable": (c_int32, [_h]),
    "tdl_graph_memory_plan": (_status, [_h, c_int64, POINTER(c_uint64), POINTER(c_uint64),
                                        POINTER(c_uint64)]),
    "tdl_graph_summary": (_status, [_h, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "tdl_graph_write_dot": (_status, [_h, _str, c_int32]),
    # ops.h
    "tdl_input": (_h, [_h, _str, _dtype, c_int32, _i64p]),
    "tdl_param": (_h, [_h, _str, c_int32, _i64p, c_int32, c_float, c_float]),
    "tdl_constant": (_h, [_h, _str, _data, c_int32, _i64p]),
    "tdl_add": (_h, [_h, _h, _h]),
    "tdl_sub": (_h, [_h, _h, _h]),
    "tdl_mul": (_h, [_h, _h, _h]),
    "tdl_div": (_h, [_h, _h, _h]),
    "tdl_affine_scalar": (_h, [_h, _h, c_float, c_float]),
    "tdl_matmul": (_h, [_h, _h, _h]),
    "tdl_reshape": (_h, [_h, _h, c_int32, _i64p]),
    "tdl_transpose": (_h, [_h, _h]),
    "tdl_permute": (_h, [_h, _h, c_int32, _i32p]),
    "tdl_concat": (_h, [_h, c_int32, POINTER(c_void_p), c_int32]),
    "tdl_slice": (_h, [_h, _h, c_int32, c_int64, c_int64]),
    "tdl_sum": (_h, [_h, _h, c_int32, _i32p, c_int32]),
    "tdl_mean": (_h, [_h, _h, c_int32, _i32p, c_int32]),
    "tdl_max": (_h, [_h, _h, c_int32, _i32p, c_int32]),
    "tdl_relu": (_h, [_h, _h]),
    "tdl_leaky_relu": (_h, [_h, _h, c_float]),
    "tdl_elu": (_h, [_h, _h, c_float]),
    "tdl_sigmoid": (_h, [_h, _h]),
    "tdl_tanh": (_h, [_h, _h]),
    "tdl_gelu": (_h, [_h, _h]),
    "tdl_exp": (_h, [_h, _h]),
    "tdl_log": (_h, [_h, _h]),
    "tdl_sqrt": (_h, [_h, _h]),
    "tdl_softmax": (_h, [_h, _h, c_int32]),
    "tdl_log_softmax": (_h, [_h, _h, c_int32]),
    "tdl_dropout": (_h, [_h, _h, c_float]),
    "tdl_stop_gradient": (_h, [_h, _h]),
    "tdl_mse_loss": (_h, [_h, _h, _h]),
    "tdl_cross_entropy": (_h, [_h, _h, _h]),
    "tdl_cross_entropy_smooth": (_h, [_h, _h, _h, c_float]),
    "tdl_bce_with_logits": (_h, [_h, _h, _h]),
    "tdl_dense": (_h, [_h, _h, c_int64, _str]),
    "tdl_dense_ex": (_h, [_h, _h, c_int64, _str, c_int32, c_int32]),
    # optim.h
    "tdl_optim_create": (_status, [_h, c_int32, c_float, POINTER(c_void_p)]),
    "tdl_optim_create_sgd": (_status, [_h, c_float, c_float, POINTER(c_void_p)]),
    "tdl_optim_create_adam": (_status, [_h, c_float, POINTER(c_void_p)]),
    "tdl_optim_destroy": (None, [_h]),
    "tdl_optim_set": (_status, [_h, c_int32, c_double]),
    "tdl_optim_add_group": (_status, [_h, _str, _i32p]),
    "tdl_optim_group_set": (_status, [_h, c_int32, c_int32, c_double]),
    "tdl_optim_step": (_status, [_h]),
    "tdl_optim_lr": (c_double, [_h]),
    "tdl_optim_steps": (c_int64, [_h]),
    "tdl_optim_last_grad_norm": (c_double, [_h]),
    "tdl_optim_error": (_str, [_h]),
    "tdl_clip_grad_norm": (_status, [_h, c_double, POINTER(c_double)]),
    # io.h
    "tdl_save_weights": (_status, [_h, _str]),
    "tdl_load_weights": (_status, [_h, _str]),
    "tdl_load_weights_ex": (_status, [_h, _str, c_int32]),
    # data.h
    "tdl_dataset_load_idx": (_status, [_h, _str, _str, POINTER(c_void_p)]),
    "tdl_dataset_from_arrays": (_status, [_h, _data, _data, c_int64, c_int32, _i64p,
                                          POINTER(c_void_p)]),
    "tdl_dataset_destroy": (None, [_h]),
    "tdl_dataset_size": (c_int64, [_h]),
    "tdl_dataset_sample_size": (c_int64, [_h]),
    "tdl_dataset_sample_shape": (_status, [_h, _i32p, _i64p]),
    "tdl_dataset_num_classes": (c_int32, [_h]),
    "tdl_dataset_x": (c_void_p, [_h]),
    "tdl_dataset_y": (c_void_p, [_h]),
    "tdl_dataset_truncate": (_status, [_h, c_int64]),
    "tdl_batcher_create": (_status, [_h, c_int64, c_int32, c_uint64, POINTER(c_void_p)]),
    "tdl_batcher_destroy": (None, [_h]),
    "tdl_batcher_next": (_status, [_h, POINTER(c_void_p), POINTER(c_void_p), POINTER(c_int64)]),
    "tdl_batcher_reset": (_status, [_h]),
    "tdl_batcher_num_batches": (c_int64, [_h]),
    # metrics.h
    "tdl_metrics_create": (_status, [_h, c_int32, POINTER(c_void_p)]),
    "tdl_metrics_destroy": (None, [_h]),
    "tdl_metrics_reset": (_status, [_h]),
    "tdl_metrics_update_scores": (_status, [_h, _data, _data, c_int64]),
    "tdl_metrics_update": (_status, [_h, _data, _data, c_int64]),
    "tdl_metrics_count": (c_int64, [_h]),
    "tdl_metrics_accuracy": (c_double, [_h]),
    "tdl_metrics_class": (_status, [_h, c_int32, POINTER(c_double), POINTER(c_double),
                                    POINTER(c_double)]),
    "tdl_metrics_macro_f1": (c_double, [_h]),
    "tdl_metrics_confusion": (c_int64, [_h, c_int32, c_int32]),
    "tdl_metrics_report": (_status, [_h, POINTER(c_char_p), POINTER(c_char), c_size_t,
                                     POINTER(c_size_t)]),
}


class LibraryNotFoundError(ImportError):
    """libtiny-dl.so.1 could not be found or loaded (see the module docstring)."""


def _pkg_config_libdir():
    try:
        r = subprocess.run(["pkg-config", "--variable=libdir", "tiny-dl"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    d = r.stdout.strip()
    return d if r.returncode == 0 and d else None


def _candidates():
    """(how, path-or-name) pairs, in the documented order."""
    env = os.environ.get("TINYDL_LIBRARY")
    if env:
        # An explicit choice is the only one tried: silently using another copy
        # would hide a mistake.
        yield "TINYDL_LIBRARY", env
        return
    yield "loader path", SONAME
    found = ctypes.util.find_library("tiny-dl")
    if found:
        yield "ctypes.util.find_library", found
    libdir = _pkg_config_libdir()
    if libdir:
        yield "pkg-config", os.path.join(libdir, SONAME)


def _declare(lib):
    missing = []
    for name, (restype, argtypes) in FUNCTIONS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    return missing


def load():
    """Loads and declares the library; returns (CDLL, path it came from)."""
    tried = []
    for how, path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s): %s" % (path, how, e))
            continue
        missing = _declare(lib)
        if missing:
            tried.append("%s (%s): lacks %s" % (path, how, ", ".join(missing[:5])))
            continue
        return lib, path
    raise LibraryNotFoundError(
        "tinydl: cannot load %s; set TINYDL_LIBRARY to its full path, install tiny-dl "
        "(meson install), or add its folder to LD_LIBRARY_PATH. Tried:\n  %s"
        % (SONAME, "\n  ".join(tried) if tried else "(nothing)"))


lib, path = load()


def text(b):
    """A const char * result (bytes or None) as str."""
    return b.decode("utf-8", "replace") if b else ""
