#!/usr/bin/python3
"""Checks the public headers of tiny-dl (DESIGN §3).

1. Each header compiles alone, included twice (include guard), as C99
   (-std=c99 -pedantic -Wall -Wextra -Werror -Wstrict-prototypes) and as C++11
   (-std=c++11 -pedantic -Wall -Wextra -Werror). The C++ part is skipped, with
   a message, when no C++ compiler is found.
2. Every TDL_API function has C linkage in C++: a C++ object that takes the
   address of each one must reference it by its plain (unmangled) name.
3. API rules: every enumerator has an explicit value; no union, bit-field,
   struct definition (handles are opaque) or variadic function; functions and
   typedefs are prefixed tdl_, enumerators and macros TDL_; functions use
   fixed-width integer types (no plain int/long/short/unsigned).

Usage: check_headers.py --include SRC/include --build-include BUILD/include
                        --cc "cc" [--cxx "c++"]
"""

import argparse
import os
import re
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abilib  # noqa: E402

C_FLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wstrict-prototypes",
           "-Wundef"]
CXX_FLAGS = ["-std=c++11", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wundef"]
PLAIN_INT = re.compile(r"\b(int|long|short|unsigned|signed)\b")


def compile_alone(cmd, flags, lang, header, incs, tmp):
    name = os.path.basename(header)
    tu = os.path.join(tmp, "%s_%s.%s" % (name.replace(".", "_"), lang, "c" if lang == "c" else "cpp"))
    with open(tu, "w") as f:
        f.write("#include <tiny-dl/%s>\n#include <tiny-dl/%s>\n" % (name, name))
        f.write("int tdl_header_check_%s(void);\n" % re.sub(r"\W", "_", name))
    r = abilib.run(cmd + flags + ["-fsyntax-only"] + incs + [tu])
    if r.returncode != 0 or r.stdout.strip():
        abilib.fail("%s does not compile cleanly alone as %s (%s):\n%s"
                    % (name, "C99" if lang == "c" else "C++11", " ".join(cmd + flags), r.stdout))
        return False
    return True


def check_cxx_linkage(cxx, incs, funcs, tmp):
    src = os.path.join(tmp, "linkage.cpp")
    obj = os.path.join(tmp, "linkage.o")
    with open(src, "w") as f:
        f.write("#include <tiny-dl/tiny-dl.h>\n")
        f.write("typedef void (*tdl_abi_any_fn)(void);\n")
        f.write("extern const tdl_abi_any_fn tdl_abi_refs[];\n")
        f.write("const tdl_abi_any_fn tdl_abi_refs[] = {\n")
        for fn in sorted(funcs):
            f.write("    reinterpret_cast<tdl_abi_any_fn>(&%s),\n" % fn)
        f.write("};\n")
    r = abilib.run(cxx + ["-std=c++11", "-O0", "-c"] + incs + [src, "-o", obj])
    if r.returncode != 0:
        abilib.fail("the C++ linkage probe does not compile:\n" + r.stdout)
        return False
    r = abilib.run(["nm", "-u", obj])
    undef = set(line.split()[-1] for line in r.stdout.splitlines() if line.strip())
    bad = sorted(fn for fn in funcs if fn not in undef)
    if bad:
        abilib.fail("%d function(s) do not have C linkage in C++ (missing TDL_BEGIN_DECLS / "
                    "TDL_END_DECLS around them?):" % len(bad))
        for fn in bad:
            mangled = [u for u in undef if re.match(r"^_Z%d%s" % (len(fn), fn), u)]
            print("    %s%s" % (fn, (" -> " + ", ".join(mangled)) if mangled else ""))
        return False
    return True


def lint(headers, protos):
    errors = []
    for h in headers:
        name = os.path.basename(h)
        with open(h, encoding="utf-8") as f:
            raw = abilib.strip_comments(f.read())
        code = abilib.strip_preprocessor(raw)

        def where(pos, text=code):
            return "%s:%d" % (name, text.count("\n", 0, pos) + 1)

        for m in re.finditer(r"\benum\b\s*(\w*)\s*\{(.*?)\}", code, re.S):
            body_start = m.start(2)
            for im in re.finditer(r"[^,]+", m.group(2)):
                item = im.group(0).strip()
                if not item:
                    continue
                ename = re.match(r"\w+", item).group(0)
                if "=" not in item:
                    errors.append("%s: enumerator %s has no explicit value"
                                  % (where(body_start + im.start()), ename))
                if not ename.startswith("TDL_"):
                    errors.append("%s: enumerator %s is not prefixed TDL_"
                                  % (where(body_start + im.start()), ename))
        for m in re.finditer(r"\bunion\b", code):
            errors.append("%s: union in the public API" % where(m.start()))
        for m in re.finditer(r"\bstruct\s+(\w+)\s*\{", code):
            errors.append("%s: struct %s is defined in a public header (handles must be opaque)"
                          % (where(m.start()), m.group(1)))
        for m in re.finditer(r"\bTDL_API\b[^;]*\.\.\.", code):
            errors.append("%s: variadic function in the public API" % where(m.start()))
        for m in re.finditer(r"\btypedef\b([^;]*);", code, re.S):
            body = m.group(1)
            tm = re.search(r"\(\s*\*\s*(\w+)\s*\)", body) or re.search(r"(\w+)\s*$", body)
            tname = tm.group(1) if tm else "?"
            if not tname.startswith("tdl_"):
                errors.append("%s: typedef %s is not prefixed tdl_" % (where(m.start()), tname))
            if "(" in body and PLAIN_INT.search(body):
                errors.append("%s: typedef %s uses a plain C integer type (use <stdint.h> types)"
                              % (where(m.start()), tname))
        for m in re.finditer(r"\bTDL_API\b[^;{}]*?\b([A-Za-z_]\w*)\s*\(", code, re.S):
            if not m.group(1).startswith("tdl_"):
                errors.append("%s: exported function %s is not prefixed tdl_"
                              % (where(m.start()), m.group(1)))
        for m in re.finditer(r"^\s*#\s*define\s+(\w+)", raw, re.M):
            if not re.match(r"^(TDL_|TINY_DL_)", m.group(1)):
                errors.append("%s: macro %s is not prefixed TDL_" % (where(m.start(), raw), m.group(1)))
    for p in protos:
        if PLAIN_INT.search(p):
            errors.append("prototype uses a plain C integer type (use <stdint.h> types): " + p)
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--include", required=True)
    ap.add_argument("--build-include", required=True)
    ap.add_argument("--cc", required=True)
    ap.add_argument("--cxx", default="")
    a = ap.parse_args()

    cc = abilib.split_cmd(a.cc)
    cxx = abilib.split_cmd(a.cxx)
    headers = abilib.public_headers(a.include, a.build_include)
    incs = ["-I" + a.include, "-I" + a.build_include]
    funcs = abilib.api_functions(headers)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for h in headers:
            ok &= compile_alone(cc, C_FLAGS, "c", h, incs, tmp)
        if cxx:
            for h in headers:
                ok &= compile_alone(cxx, CXX_FLAGS, "cxx", h, incs, tmp)
            ok &= check_cxx_linkage(cxx, incs, funcs, tmp)
        else:
            print("NOTE: no C++ compiler found: the C++11 and C-linkage checks were skipped")
        gcc = abilib.find_gcc(cc)
        protos = abilib.api_prototypes(gcc, a.include, a.build_include) if gcc else []
        if not gcc:
            print("NOTE: no GCC found: prototypes not linted for plain integer types")
    errors = lint(headers, protos)
    for e in errors:
        abilib.fail(e)
    ok &= not errors
    print("%d header(s), %d TDL_API function(s): C99%s%s"
          % (len(headers), len(funcs), ", C++11, C linkage" if cxx else "",
             ", API rules" if not errors else ""))
    if not ok:
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
