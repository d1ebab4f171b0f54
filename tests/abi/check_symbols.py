#!/usr/bin/python3
"""Checks the dynamic symbol table of the built libtiny-dl.so.

* the exported (defined, dynamic) symbols are exactly the functions declared
  with TDL_API in include/tiny-dl/*.h: no internal symbol leaks (tdl_alloc,
  tdl_fail, tdlk_sgemm, ...), no public function is missing;
* each is a GLOBAL DEFAULT FUNC (no exported data);
* each carries the version node the version script gives it (TINYDL_1.0 for
  everything today) and only nodes of lib/libtiny-dl.map appear;
* the SONAME is libtiny-dl.so.<major>;
* DT_NEEDED holds nothing beyond libc, libm, libpthread, zlib (and the
  sanitizer runtimes in sanitizer builds); no text relocations.

Usage: check_symbols.py --lib LIB.so --include SRC/include --map lib/libtiny-dl.map
                        [--soname libtiny-dl.so.1]
"""

import argparse
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abilib  # noqa: E402

ALLOWED_NEEDED = re.compile(
    r"^(libc\.so\.\d+|libm\.so\.\d+|libpthread\.so\.\d+|libz\.so\.\d+|ld-linux[-\w.]*\.so\.\d+"
    r"|libasan\.so\.\d+|libubsan\.so\.\d+|libtsan\.so\.\d+|liblsan\.so\.\d+"
    r"|libclang_rt\.[\w.-]+\.so|libgcc_s\.so\.\d+)$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--include", required=True)
    ap.add_argument("--build-include")
    ap.add_argument("--map", required=True)
    ap.add_argument("--soname", default="libtiny-dl.so.1")
    a = ap.parse_args()

    errors = 0
    headers = abilib.public_headers(a.include, a.build_include)
    declared = abilib.api_functions(headers)
    if not declared:
        abilib.fail("no TDL_API function found in %s" % a.include)
        return 1
    nodes = abilib.parse_version_script(a.map)
    node_names = [n for n, _ in nodes]

    syms = abilib.dyn_symbols(a.lib)
    exported = {s[0]: s for s in syms}

    leaked = sorted(set(exported) - set(declared))
    missing = sorted(set(declared) - set(exported))
    if leaked:
        errors += 1
        abilib.fail("%d exported symbol(s) not declared with TDL_API in the public headers "
                    "(make them static, or keep them out of the version script):" % len(leaked))
        for n in leaked:
            print("    %s  (%s %s, version %s)" % (n, exported[n][2], exported[n][3],
                                                  exported[n][1] or "none"))
    if missing:
        errors += 1
        abilib.fail("%d TDL_API function(s) declared but not exported by %s:"
                    % (len(missing), os.path.basename(a.lib)))
        for n in missing:
            print("    %s  (declared in %s)" % (n, declared[n]))

    for name, version, typ, bind, vis in sorted(syms):
        if name not in declared:
            continue
        if typ != "FUNC" or bind != "GLOBAL" or vis != "DEFAULT":
            errors += 1
            abilib.fail("%s is %s %s %s, expected FUNC GLOBAL DEFAULT" % (name, typ, bind, vis))
        want = abilib.expected_node(name, nodes)
        if not version:
            errors += 1
            abilib.fail("%s has no symbol version (is the version script applied?)" % name)
        elif version not in node_names:
            errors += 1
            abilib.fail("%s has version %s, which is no node of %s (%s)"
                        % (name, version, os.path.basename(a.map), ", ".join(node_names)))
        elif want is not None and version != want:
            errors += 1
            abilib.fail("%s is in version node %s, the version script puts it in %s"
                        % (name, version, want))
    defined = abilib.version_definitions(a.lib)
    if sorted(defined) != sorted(node_names):
        errors += 1
        abilib.fail("the library defines version node(s) %s, the version script %s"
                    % (", ".join(defined) or "none", ", ".join(node_names) or "none"))
    if nodes and nodes[0][0] != "TINYDL_1.0":
        errors += 1
        abilib.fail("the first version node of %s is %s, expected TINYDL_1.0"
                    % (a.map, nodes[0][0]))

    tags = abilib.dynamic_tags(a.lib)
    soname = tags.get("SONAME", [""])[0]
    if soname != a.soname:
        errors += 1
        abilib.fail("SONAME is '%s', expected '%s'" % (soname, a.soname))
    for lib in tags.get("NEEDED", []):
        if not ALLOWED_NEEDED.match(lib):
            errors += 1
            abilib.fail("unexpected runtime dependency DT_NEEDED %s (tiny-dl may need only libc, "
                        "libm, pthreads and zlib)" % lib)
    if "TEXTREL" in tags or any("TEXTREL" in v for v in tags.get("FLAGS", [])):
        errors += 1
        abilib.fail("the library has text relocations (some object was not built with -fPIC)")

    versions = sorted({s[1] for s in syms if s[0] in declared and s[1]})
    print("%s: SONAME %s, %d exported symbol(s) (%d functions declared with TDL_API), version node(s): %s"
          % (os.path.basename(a.lib), soname or "-", len(exported), len(declared),
             ", ".join(versions) or "-"))
    if errors:
        print("%d problem(s) found" % errors)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
