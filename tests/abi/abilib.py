"""Helpers shared by the ABI checks of tiny-dl (tests/abi/*.py, abi/update.sh).

Pure standard library; runs with /usr/bin/python3 (3.7+).

The public API is read from the headers themselves, so the checks need no
hand-kept list: a function is public when it is declared with TDL_API in
include/tiny-dl/*.h.
"""

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

# Exit code that meson test reports as SKIP.
SKIP = 77


def fail(msg):
    print("FAIL: " + msg, flush=True)


def note(msg):
    print(msg)


def strip_comments(text):
    """Removes /* */ and // comments, keeping newlines (so line numbers hold)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_preprocessor(text):
    """Removes preprocessor lines (with their continuations), keeping newlines."""
    lines = text.split("\n")
    out = []
    cont = False
    for line in lines:
        if cont or line.lstrip().startswith("#"):
            cont = line.endswith("\\")
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def public_headers(src_include, build_include=None):
    """Paths of the public headers: include/tiny-dl/*.h and the generated version.h."""
    d = os.path.join(src_include, "tiny-dl")
    hs = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".h"))
    if build_include:
        v = os.path.join(build_include, "tiny-dl", "version.h")
        if os.path.exists(v) and all(os.path.basename(h) != "version.h" for h in hs):
            hs.append(v)
    return hs


_API_RE = re.compile(r"\bTDL_API\b([^;{}]*?)\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.S)


def api_functions(headers):
    """{name: header basename} of every function declared with TDL_API."""
    funcs = {}
    for h in headers:
        with open(h, encoding="utf-8") as f:
            text = strip_preprocessor(strip_comments(f.read()))
        for m in _API_RE.finditer(text):
            funcs[m.group(2)] = os.path.basename(h)
    return funcs


def parse_version_script(path):
    """[(node, [global patterns])] in file order, from a GNU ld version script."""
    with open(path, encoding="utf-8") as f:
        text = strip_comments(f.read())
    nodes = []
    for m in re.finditer(r"([A-Za-z0-9_.]+)\s*\{(.*?)\}\s*([A-Za-z0-9_.]*)\s*;", text, re.S):
        body = m.group(2)
        pats = []
        scope = "global"
        for tok in re.split(r"[;\s]+", body):
            if not tok:
                continue
            if tok in ("global:", "local:"):
                scope = tok[:-1]
                continue
            if tok.endswith(":"):
                continue
            if scope == "global":
                pats.append(tok)
        nodes.append((m.group(1), pats))
    return nodes


def expected_node(symbol, nodes):
    """The version node the linker gives `symbol`: an exact name wins over a glob."""
    for node, pats in nodes:
        if symbol in pats:
            return node
    for node, pats in nodes:
        for p in pats:
            if any(ch in p for ch in "*?[") and fnmatch.fnmatchcase(symbol, p):
                return node
    return None


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, **kw)


def version_definitions(lib):
    """Names of the version nodes `lib` defines (.gnu.version_d), the BASE entry excluded."""
    r = run(["readelf", "-V", "-W", lib])
    defs = []
    in_defs = False
    for line in r.stdout.splitlines():
        if "Version definition section" in line:
            in_defs = True
            continue
        if in_defs and line.startswith("Version "):
            in_defs = False
        m = re.search(r"Flags:\s*(\S+).*\bName:\s*(\S+)", line) if in_defs else None
        if m and m.group(1) != "BASE":
            defs.append(m.group(2))
    return defs


def dyn_symbols(lib):
    """Defined dynamic symbols of `lib`: [(name, version, type, bind, vis)], without the
    absolute symbols that name the version nodes themselves."""
    nodes = set(version_definitions(lib))
    r = run(["readelf", "--dyn-syms", "-W", lib])
    if r.returncode != 0:
        raise RuntimeError("readelf failed:\n" + r.stdout)
    syms = []
    for line in r.stdout.splitlines():
        parts = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(parts) < 8 or not parts[0].rstrip(":").isdigit():
            continue
        typ, bind, vis, ndx, name = parts[3], parts[4], parts[5], parts[6], parts[7]
        if ndx == "UND":
            continue
        version = ""
        for sep in ("@@", "@"):
            if sep in name:
                name, version = name.split(sep, 1)
                break
        # The linker emits one ABS symbol per version node, named after it.
        if ndx == "ABS" and (name == version or name in nodes):
            continue
        syms.append((name, version, typ, bind, vis))
    return syms


def dynamic_tags(lib):
    """{tag: [values]} from readelf -d, e.g. {'SONAME': ['libx.so.1'], 'NEEDED': [...]}."""
    r = run(["readelf", "-d", "-W", lib])
    if r.returncode != 0:
        raise RuntimeError("readelf failed:\n" + r.stdout)
    tags = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*0x[0-9a-f]+\s+\((\w+)\)\s+(.*)$", line)
        if not m:
            continue
        val = m.group(2)
        b = re.search(r"\[(.*)\]", val)
        tags.setdefault(m.group(1), []).append(b.group(1) if b else val.strip())
    return tags


def has_debug_info(lib):
    r = run(["readelf", "-S", "-W", lib])
    return ".debug_info" in r.stdout


def split_cmd(s):
    return shlex.split(s) if s else []


def find_gcc(cc_cmd):
    """A GCC driver for -aux-info: the build's compiler when it is GCC, else gcc on PATH."""
    if cc_cmd:
        r = run(cc_cmd + ["--version"])
        if r.returncode == 0 and ("Free Software Foundation" in r.stdout or "(GCC)" in r.stdout):
            return cc_cmd
    g = shutil.which("gcc")
    return [g] if g else None


def api_prototypes(gcc_cmd, src_include, build_include):
    """Normalised prototypes of every tdl_ function, as GCC's -aux-info writes them
    (types only, no parameter names), e.g. 'tdl_status tdl_ctx_create (tdl_ctx **);'."""
    with tempfile.TemporaryDirectory() as tmp:
        tu = os.path.join(tmp, "api.c")
        aux = os.path.join(tmp, "aux.txt")
        with open(tu, "w") as f:
            f.write("#include <tiny-dl/tiny-dl.h>\n")
        cmd = gcc_cmd + ["-std=c99", "-fsyntax-only", "-aux-info", aux,
                         "-I" + src_include]
        if build_include:
            cmd.append("-I" + build_include)
        r = run(cmd + [tu])
        if r.returncode != 0:
            raise RuntimeError("compiling the umbrella header failed:\n" + r.stdout)
        protos = set()
        with open(aux) as f:
            for line in f:
                line = re.sub(r"^/\*.*?\*/\s*", "", line.strip())
                line = re.sub(r"^extern\s+", "", line)
                if re.search(r"\btdl_\w+\s*\(", line):
                    protos.add(re.sub(r"\s+", " ", line))
        return sorted(protos)


_SKIP_MACROS = re.compile(r"^(TDL_API|TDL_BEGIN_DECLS|TDL_END_DECLS|TDL_VERSION_\w+|TINY_DL_\w+_H)$")


def api_constant_names(headers):
    """Names of every enumerator and every object-like TDL_ macro of the headers
    (the version macros and the linkage helpers excluded)."""
    names = []
    for h in headers:
        with open(h, encoding="utf-8") as f:
            text = strip_comments(f.read())
        for m in re.finditer(r"^\s*#\s*define\s+(TDL_\w+)(?!\()\s+\S", text, re.M):
            if not _SKIP_MACROS.match(m.group(1)) and m.group(1) not in names:
                names.append(m.group(1))
        code = strip_preprocessor(text)
        for m in re.finditer(r"\benum\b\s*\w*\s*\{(.*?)\}", code, re.S):
            for item in m.group(1).split(","):
                item = item.strip()
                if item:
                    name = re.match(r"[A-Za-z_]\w*", item).group(0)
                    if name not in names:
                        names.append(name)
    return names


def api_constants(cc_cmd, src_include, build_include, headers):
    """['NAME = value'] for every enumerator and TDL_ macro, values taken from the
    compiler (so expressions are evaluated as a program sees them)."""
    names = api_constant_names(headers)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "consts.c")
        exe = os.path.join(tmp, "consts")
        with open(src, "w") as f:
            f.write("#include <stdio.h>\n#include <tiny-dl/tiny-dl.h>\n")
            f.write("static void ps(const char *n, const char *v) { printf(\"%s = \\\"%s\\\"\\n\", n, v); }\n")
            f.write("static void pi(const char *n, long long v) { printf(\"%s = %lld\\n\", n, v); }\n")
            f.write("static void pd(const char *n, double v) { printf(\"%s = %.17g\\n\", n, v); }\n")
            f.write("#define P(x) _Generic((x), char *: ps, const char *: ps, float: pd, "
                    "double: pd, default: pi)(#x, x)\n")
            f.write("int main(void) {\n")
            for n in names:
                f.write("    P(%s);\n" % n)
            f.write("    return 0;\n}\n")
        cmd = cc_cmd + ["-std=c11", "-I" + src_include]
        if build_include:
            cmd.append("-I" + build_include)
        r = run(cmd + [src, "-o", exe])
        if r.returncode != 0:
            raise RuntimeError("compiling the constants program failed:\n" + r.stdout)
        r = run([exe])
        if r.returncode != 0:
            raise RuntimeError("the constants program failed:\n" + r.stdout)
        return sorted(l for l in r.stdout.splitlines() if l.strip())


def api_text(cc_cmd, src_include, build_include):
    """The text of abi/api.txt: prototypes and constant values, one per line."""
    headers = public_headers(src_include, build_include)
    gcc = find_gcc(cc_cmd)
    if gcc is None:
        raise RuntimeError("no GCC found (needed for -aux-info)")
    lines = ["fn " + p for p in api_prototypes(gcc, src_include, build_include)]
    lines += ["const " + c for c in api_constants(cc_cmd or gcc, src_include, build_include,
                                                  headers)]
    return lines
