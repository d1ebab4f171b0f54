#!/usr/bin/python3
"""Compares the built libtiny-dl.so with the committed ABI baseline in abi/.

Two baselines, both written by abi/update.sh:

* abi/libtiny-dl.so.1.abi — `abidw` output (symbols + the types of every
  exported function, from DWARF). `abidiff` against it must report no removed
  and no changed function or variable; added functions are fine. abidiff's exit
  status has bit 3 (8) for an incompatible change (a removed symbol), but it
  reports a changed parameter or return type only as bit 2 (4), like an
  addition, so the summary lines are read as well. The layout of the structs
  behind the opaque handles is not ABI: abi/libtiny-dl.abignore (a libabigail
  suppression file, passed to abidiff) ignores changes to `struct tdl*`; a
  parameter switched from one handle type to another is caught by api.txt.
  abidiff runs without --headers-dir2 on purpose: with it, every type that is
  not defined in include/tiny-dl (int32_t, size_t, ...) counts as private and
  a parameter changed from int32_t to int64_t is filtered out.
  A build without debug info (the default release build) has no types, so
  abidiff then compares symbols only; the debug/ASan CI build does the full
  check.
* abi/api.txt — every prototype as GCC's -aux-info prints it and the value of
  every enumerator and TDL_ macro. Each baseline line must still be there
  (values of status codes, enums and options are ABI too, and abidiff cannot
  see them because the API passes them as int32_t). New lines are additions.

Usage: check_abi.py --lib LIB.so --include SRC/include --build-include BUILD/include
                    --baseline-dir SRC/abi --cc "cc" [--update]
With --update, (re)writes both baselines instead of checking (abi/update.sh).
"""

import argparse
import os
import re
import shutil
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abilib  # noqa: E402

HOWTO = "run abi/update.sh to create it (see docs/abi.md)"


def abidw(lib, include, out):
    cmd = ["abidw", "--headers-dir", os.path.join(include, "tiny-dl"), "--drop-private-types",
           "--no-corpus-path", "--no-comp-dir-path", "--no-show-locs", "--type-id-style", "hash",
           "--out-file", out, lib]
    r = abilib.run(cmd)
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), r.stdout))


def update(a, abi_file, api_file):
    if not abilib.has_debug_info(a.lib):
        abilib.fail("%s has no debug info: build it with -Ddebug=true (abi/update.sh does)" % a.lib)
        return 1
    os.makedirs(a.baseline_dir, exist_ok=True)
    abidw(a.lib, a.include, abi_file)
    lines = abilib.api_text(abilib.split_cmd(a.cc), a.include, a.build_include)
    with open(api_file, "w") as f:
        f.write("# tiny-dl public API baseline: written by abi/update.sh, checked by the\n"
                "# 'abi_baseline' test. Lines may be added, never removed or changed.\n")
        for line in lines:
            f.write(line + "\n")
    print("wrote %s and %s (%d lines)" % (abi_file, api_file, len(lines)))
    return 0


def check_abidiff(a, abi_file):
    if shutil.which("abidiff") is None:
        print("NOTE: abidiff not found (Debian: abigail-tools): binary ABI not compared")
        return None
    cmd = ["abidiff", "--no-show-locs", "--no-corpus-path"]
    supp = os.path.join(a.baseline_dir, "libtiny-dl.abignore")
    if os.path.exists(supp):
        cmd += ["--suppressions", supp]
    cmd += [abi_file, a.lib]
    if not abilib.has_debug_info(a.lib):
        print("NOTE: %s has no debug info: abidiff compares exported symbols only "
              "(types are compared in builds with -Ddebug=true)" % os.path.basename(a.lib))
    r = abilib.run(cmd)
    out = r.stdout
    rc = r.returncode
    print("$ " + " ".join(cmd) + "\n" + out + "(abidiff exit status %d)" % rc)
    if rc & 3:
        abilib.fail("abidiff could not compare (exit status %d)" % rc)
        return False
    bad = []
    if rc & 8:
        bad.append("abidiff reports an incompatible change")
    for line in out.splitlines():
        if "changes summary" in line:
            m_rem = re.search(r"(\d+) Removed", line)
            m_chg = re.search(r"(\d+) Changed", line)
            if (m_rem and int(m_rem.group(1))) or (m_chg and int(m_chg.group(1))):
                bad.append(line.strip())
        if "SONAME changed" in line or "architecture changed" in line:
            bad.append(line.strip())
    if bad:
        abilib.fail("the ABI of %s breaks the baseline %s:\n    %s\n"
                    "Removing a function or changing an exported signature breaks every program "
                    "built against libtiny-dl.so.1: add a new function instead (docs/abi.md)."
                    % (os.path.basename(a.lib), abi_file, "\n    ".join(bad)))
        return False
    return True


def api_key(line):
    """What a line of api.txt is about: the function or constant name."""
    m = re.search(r"\b(tdl_\w+) \(", line) or re.match(r"const (\w+) =", line)
    return m.group(1) if m else line


def check_api(a, api_file):
    if abilib.find_gcc(abilib.split_cmd(a.cc)) is None:
        print("NOTE: no GCC found (needed for -aux-info): abi/api.txt not compared")
        return None
    with open(api_file) as f:
        base = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    cur = abilib.api_text(abilib.split_cmd(a.cc), a.include, a.build_include)
    curset = set(cur)
    gone = [l for l in base if l not in curset]
    base_keys = set(api_key(l) for l in base)
    cur_by_key = dict((api_key(l), l) for l in cur)
    added = sorted(l for l in curset if api_key(l) not in base_keys)
    if added:
        print("%d addition(s) to the API since the baseline (fine; abi/update.sh records them):"
              % len(added))
        for l in added:
            print("    + " + l)
    if gone:
        abilib.fail("%d line(s) of %s are no longer true of the headers (a removed or changed "
                    "prototype, or a changed constant):" % (len(gone), api_file))
        for l in gone:
            print("    - " + l)
            print("      now: " + cur_by_key.get(api_key(l), "(gone)"))
        return False
    print("abi/api.txt: %d baseline line(s) all hold" % len(base))
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--include", required=True)
    ap.add_argument("--build-include", required=True)
    ap.add_argument("--baseline-dir", required=True)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--update", action="store_true")
    a = ap.parse_args()

    soname = abilib.dynamic_tags(a.lib).get("SONAME", [os.path.basename(a.lib)])[0]
    abi_file = os.path.join(a.baseline_dir, soname + ".abi")
    api_file = os.path.join(a.baseline_dir, "api.txt")
    if a.update:
        return update(a, abi_file, api_file)

    missing = [f for f in (abi_file, api_file) if not os.path.exists(f)]
    if missing:
        abilib.fail("no ABI baseline (%s): %s" % (", ".join(missing), HOWTO))
        return 1
    results = [check_abidiff(a, abi_file), check_api(a, api_file)]
    if False in results:
        return 1
    if all(r is None for r in results):
        return abilib.SKIP
    print("OK: no removed or changed interface since the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
