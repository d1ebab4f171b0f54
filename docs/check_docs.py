#!/usr/bin/python3
"""Runs Doxygen on the public headers and guides into a temporary folder and
fails on any warning: an undocumented public declaration, a broken reference,
a parameter documented under a wrong name, ...

Usage: check_docs.py DOXYGEN DOXYFILE
"""

import subprocess
import sys
import tempfile


def main():
    doxygen, doxyfile = sys.argv[1], sys.argv[2]
    with open(doxyfile, encoding="utf-8") as f:
        config = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        # Later assignments win: write into the temporary folder, and keep going
        # past the first warning so that all of them are listed.
        config += "\nOUTPUT_DIRECTORY = %s\nWARN_AS_ERROR = NO\nQUIET = YES\n" % tmp
        r = subprocess.run([doxygen, "-"], input=config, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
    warnings = [l for l in r.stderr.splitlines() if l.strip()]
    if r.stdout.strip():
        print(r.stdout.rstrip())
    if warnings:
        print("FAIL: Doxygen reported %d warning(s) (every public declaration must be "
              "documented):" % len(warnings))
        for w in warnings:
            print("    " + w)
    if r.returncode != 0:
        print("FAIL: doxygen exited with status %d" % r.returncode)
    if warnings or r.returncode != 0:
        return 1
    print("Doxygen: no warnings. OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
