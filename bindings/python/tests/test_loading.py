"""Where the library is found: $TINYDL_LIBRARY, the loader path, pkg-config."""

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import _support  # noqa: F401  pylint: disable=unused-import
import tinydl as td

LIB = os.path.realpath(td.library_path()) if os.path.sep in td.library_path() else None
PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(td.__file__)))
PROBE = "import tinydl, sys; sys.stdout.write(tinydl.library_path())"


def probe(**env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TINYDL_LIBRARY", "LD_LIBRARY_PATH", "PKG_CONFIG_PATH")}
    env["PYTHONPATH"] = PKG_PARENT
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", PROBE], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                          check=False)


@functools.lru_cache(maxsize=None)
def system_copy_visible():
    """True when the loader finds an installed libtiny-dl.so.1 on its own."""
    r = probe()
    return r.returncode == 0


@unittest.skipUnless(LIB, "the library was not loaded from a path")
class LoadingTest(unittest.TestCase):
    def test_env_variable_wins_and_is_the_only_choice(self):
        r = probe(TINYDL_LIBRARY=LIB)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, LIB)
        r = probe(TINYDL_LIBRARY="/nonexistent/libtiny-dl.so.1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("LibraryNotFoundError", r.stderr)
        self.assertIn("TINYDL_LIBRARY", r.stderr)

    def test_loader_path(self):
        if system_copy_visible():
            self.skipTest("an installed libtiny-dl.so.1 is visible to the loader")
        r = probe(LD_LIBRARY_PATH=os.path.dirname(LIB))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "libtiny-dl.so.1")

    @unittest.skipUnless(shutil.which("pkg-config"), "pkg-config not installed")
    def test_pkg_config(self):
        if system_copy_visible():
            self.skipTest("an installed libtiny-dl.so.1 is visible to the loader")
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "tiny-dl.pc"), "w", encoding="utf-8") as f:
                f.write("libdir=%s\n\nName: tiny-dl\nDescription: test\nVersion: %s\n"
                        "Libs: -L${libdir} -ltiny-dl\n" % (os.path.dirname(LIB), td.version()))
            r = probe(PKG_CONFIG_PATH=tmp)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, os.path.join(os.path.dirname(LIB), "libtiny-dl.so.1"))

    def test_nothing_found(self):
        if system_copy_visible():
            self.skipTest("an installed libtiny-dl.so.1 is visible to the loader")
        with tempfile.TemporaryDirectory() as tmp:
            r = probe(PKG_CONFIG_PATH=tmp, PKG_CONFIG_LIBDIR=tmp)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot load libtiny-dl.so.1", r.stderr)


if __name__ == "__main__":
    unittest.main()
