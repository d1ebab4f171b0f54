#!/usr/bin/python3
"""Checks that the static library libtiny-dl.a defines no global symbol outside
tiny-dl's namespace.

A program that links libtiny-dl.a sees every non-static function of the
library, hidden or not, so an internal helper named `gemm_pack` or `rng_next`
would clash with the program's own. Every global symbol must start with `tdl`
(tdl_ public and internal, tdlk_ kernels, ...). Symbols the compiler itself
emits for sanitizers or coverage are ignored.

Usage: check_static.py --lib libtiny-dl.a
"""

import argparse
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abilib  # noqa: E402

ALLOWED = re.compile(r"^(tdl|TDL)")
COMPILER = re.compile(r"^(__odr_asan|___?asan|__ubsan|__sancov|__gcov|__llvm|__profc|__profd"
                      r"|__x86\.get_pc_thunk|__tsan)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    a = ap.parse_args()

    r = abilib.run(["nm", "-A", "-g", "--defined-only", a.lib])
    if r.returncode != 0:
        abilib.fail("nm failed:\n" + r.stdout)
        return 1
    bad = []
    count = 0
    for line in r.stdout.splitlines():
        # archive:member:address type name
        m = re.match(r"^(.*?):([^:]+):\s*[0-9a-fA-F]*\s+(\w)\s+(\S+)$", line)
        if not m:
            continue
        member, typ, name = m.group(2), m.group(3), m.group(4)
        if typ in "wWvV":  # weak (inline functions, compiler helpers)
            continue
        count += 1
        if ALLOWED.match(name) or COMPILER.match(name):
            continue
        bad.append((name, member, typ))
    if bad:
        abilib.fail("%d global symbol(s) of %s outside the tdl namespace (make them static or "
                    "prefix them with tdl):" % (len(bad), os.path.basename(a.lib)))
        for name, member, typ in sorted(bad):
            print("    %s  (%s, nm type %s)" % (name, member, typ))
        return 1
    print("%s: %d global symbol(s), all prefixed with tdl. OK" % (os.path.basename(a.lib), count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
