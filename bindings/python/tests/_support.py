"""Shared by the tests: find the package and the library when run from the source tree.

Under `meson test` the environment already names both (PYTHONPATH,
TINYDL_LIBRARY). Run by hand (`python3 -m unittest discover -s bindings/python/tests`
or `pytest bindings/python/tests`) the package comes from bindings/python and
the library from build/lib when they exist; an installed tinydl / libtiny-dl
is used otherwise.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_DIR = os.path.dirname(HERE)                   # bindings/python
REPO = os.path.dirname(os.path.dirname(PKG_DIR))  # the source tree (when there is one)
INCLUDE_DIR = os.environ.get("TDL_INCLUDE_DIR") or os.path.join(REPO, "include", "tiny-dl")
FMNIST_DIR = os.environ.get("TDL_FMNIST_DIR") or "/usr/share/datasets/fashion-mnist"

if "TINYDL_LIBRARY" not in os.environ:
    _lib = os.path.join(REPO, "build", "lib", "libtiny-dl.so.1")
    if os.path.exists(_lib):
        os.environ["TINYDL_LIBRARY"] = _lib

try:
    import tinydl  # noqa: F401  pylint: disable=unused-import
except ModuleNotFoundError as e:
    if e.name != "tinydl" or not os.path.isdir(os.path.join(PKG_DIR, "tinydl")):
        raise
    sys.path.insert(0, PKG_DIR)
    import tinydl  # noqa: F401,E402  pylint: disable=unused-import


def fmnist_available():
    return all(os.path.exists(os.path.join(FMNIST_DIR, f)) for f in (
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
