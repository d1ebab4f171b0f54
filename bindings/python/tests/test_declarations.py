"""The hand-written ctypes declarations match the public headers.

Parses include/tiny-dl/*.h with a regular expression and checks, for every
function tinydl binds: it is declared TDL_API there, with the same number of
parameters, and each scalar parameter / result has the same ctypes type
(pointers must be declared as pointers).
"""

import ctypes
import glob
import os
import re
import unittest

import _support  # noqa: F401  pylint: disable=unused-import
from tinydl import _lib

SCALARS = {
    "int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32, "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64, "size_t": ctypes.c_size_t, "float": ctypes.c_float,
    "double": ctypes.c_double, "tdl_status": ctypes.c_int32, "tdl_dtype": ctypes.c_int32,
}
FUNC_TYPEDEFS = {"tdl_malloc_fn": _lib.MALLOC_FN, "tdl_realloc_fn": _lib.REALLOC_FN,
                 "tdl_free_fn": _lib.FREE_FN, "tdl_log_fn": _lib.LOG_FN}

DECL = re.compile(r"TDL_API\s+([^;{}()]*?)\b(tdl_\w+)\s*\(([^()]*)\)\s*;", re.S)


def parse_headers(folder):
    """{name: (return type text, [parameter type texts])} of every TDL_API function."""
    funcs = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.h"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        text = re.sub(r"^\s*#[^\n]*", " ", text, flags=re.M)
        for m in DECL.finditer(text):
            ret, name, params = m.group(1), m.group(2), m.group(3)
            params = " ".join(params.split())
            if params in ("", "void"):
                types = []
            else:
                types = []
                for p in params.split(","):
                    p = p.strip()
                    # drop the parameter's name (the last identifier after a space or '*')
                    types.append(re.sub(r"(?<=[\s*])\w+$", "", p).strip())
            funcs[name] = (" ".join(ret.split()), types)
    return funcs


def norm(t):
    """'const int64_t *' -> ('int64_t', 1): base type and pointer depth."""
    depth = t.count("*")
    base = " ".join(w for w in t.replace("*", " ").split() if w != "const")
    return base, depth


def check_type(ctext, ctype, is_result=False):
    """None when the ctypes type fits the C type text, else a complaint."""
    base, depth = norm(ctext)
    if depth == 0:
        if base == "void" and is_result:
            return None if ctype is None else "void result declared as %r" % (ctype,)
        if base in FUNC_TYPEDEFS:
            return None if ctype is FUNC_TYPEDEFS[base] else \
                "%s needs the matching CFUNCTYPE, got %r" % (base, ctype)
        if base in SCALARS:
            return None if ctype is SCALARS[base] else \
                "%s needs %s, got %r" % (base, SCALARS[base].__name__, ctype)
        return "unknown scalar type %r" % ctext
    # pointers
    if depth == 1 and base == "char":
        ok = (ctypes.c_char_p, ctypes.POINTER(ctypes.c_char))
        return None if ctype in ok else "char * needs c_char_p or POINTER(c_char), got %r" % (ctype,)
    if depth == 2 and base == "char":
        return None if ctype is ctypes.POINTER(ctypes.c_char_p) else \
            "char ** needs POINTER(c_char_p), got %r" % (ctype,)
    if depth == 2:  # tdl_x **out, const float **x, tdl_node *const *xs
        return None if ctype is ctypes.POINTER(ctypes.c_void_p) else \
            "%s needs POINTER(c_void_p), got %r" % (ctext, ctype)
    if depth == 1 and base in SCALARS:
        ok = (ctypes.POINTER(SCALARS[base]), ctypes.c_void_p)
        return None if ctype in ok else "%s needs POINTER(%s) or c_void_p, got %r" % (
            ctext, SCALARS[base].__name__, ctype)
    if depth == 1:  # void *, opaque handles
        return None if ctype is ctypes.c_void_p else "%s needs c_void_p, got %r" % (ctext, ctype)
    return "unexpected type %r" % ctext


@unittest.skipUnless(os.path.isdir(_support.INCLUDE_DIR),
                     "public headers not found (set TDL_INCLUDE_DIR)")
class DeclarationsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.headers = parse_headers(_support.INCLUDE_DIR)

    def test_parser_sees_the_api(self):
        self.assertIn("tdl_feed", self.headers)
        self.assertEqual(self.headers["tdl_feed"][1],
                         ["tdl_graph *", "tdl_node *", "const void *", "int32_t",
                          "const int64_t *"])
        self.assertEqual(self.headers["tdl_version"], ("const char *", []))
        self.assertGreater(len(self.headers), 100)

    def test_every_bound_function_is_in_the_headers(self):
        missing = sorted(set(_lib.FUNCTIONS) - set(self.headers))
        self.assertEqual(missing, [], "bound but not declared TDL_API in the headers")

    def test_parameter_counts(self):
        for name, (_res, args) in _lib.FUNCTIONS.items():
            with self.subTest(name=name):
                self.assertEqual(len(args), len(self.headers[name][1]),
                                 "%s: %d argtypes, header has %r"
                                 % (name, len(args), self.headers[name][1]))

    def test_types(self):
        for name, (res, args) in _lib.FUNCTIONS.items():
            ret_c, params_c = self.headers[name]
            with self.subTest(name=name, what="result"):
                self.assertIsNone(check_type(ret_c, res, is_result=True), name)
            for i, (pc, at) in enumerate(zip(params_c, args)):
                with self.subTest(name=name, param=i):
                    self.assertIsNone(check_type(pc, at), "%s parameter %d" % (name, i))

    def test_loaded_library_has_them(self):
        for name in _lib.FUNCTIONS:
            fn = getattr(_lib.lib, name)
            self.assertEqual(len(fn.argtypes), len(_lib.FUNCTIONS[name][1]))

    def test_report_unbound(self):
        unbound = sorted(set(self.headers) - set(_lib.FUNCTIONS))
        if unbound:
            print("\n  note: %d public functions have no Python binding yet: %s"
                  % (len(unbound), ", ".join(unbound)))


if __name__ == "__main__":
    unittest.main()
