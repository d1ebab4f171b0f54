//! Checks that `src/lib.rs` declares every `TDL_API` function of the public
//! headers (same name, same number of parameters, void or not), declares no
//! function the headers lack, and defines every enum value and `TDL_*` constant
//! of the headers with the same value.
//!
//! The headers are read from `TINYDL_INCLUDE_DIR` (the folder holding `core.h`,
//! `graph.h`, ...) or else from `include/tiny-dl/` of the source tree, found
//! relative to this crate.
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs;
use std::path::PathBuf;

fn header_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TINYDL_INCLUDE_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../include/tiny-dl")
}

/// Removes `/* */` and `//` comments (C and Rust).
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && i + 1 < b.len() && b[i + 1] == b'*' {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
            out.push(' ');
        } else if b[i] == b'/' && i + 1 < b.len() && b[i + 1] == b'/' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' {
            // copy string literals verbatim (none hold comment markers in practice)
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                out.push(b[i] as char);
                i += 1;
            }
            out.push('"');
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier that ends just before byte `end` of `s`.
fn ident_before(s: &str, end: usize) -> String {
    let head = s[..end].trim_end();
    let start = head.rfind(|c: char| !is_ident(c)).map(|p| p + 1).unwrap_or(0);
    head[start..].to_string()
}

/// Text inside the parentheses that open at byte `open`, and the byte after the closing one.
fn paren_body(s: &str, open: usize) -> (String, usize) {
    let mut depth = 0;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return (s[open + 1..open + i].to_string(), open + i + 1);
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in {:?}", &s[open..]);
}

/// Number of parameters in a parameter list ("void" and "" are 0; a trailing comma is ignored).
fn arity(params: &str) -> usize {
    let p = params.trim();
    if p.is_empty() || p == "void" {
        return 0;
    }
    let mut depth = 0;
    let mut n = 1;
    for c in p.chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => n += 1,
            _ => {}
        }
    }
    if p.ends_with(',') {
        n -= 1;
    }
    n
}

#[derive(Debug, PartialEq)]
struct Sig {
    arity: usize,
    returns: bool,
}

struct Headers {
    functions: BTreeMap<String, Sig>,
    constants: BTreeMap<String, i64>,
}

fn parse_int(s: &str) -> Option<i64> {
    let t: String = s.chars().filter(|c| !c.is_whitespace() && *c != '(' && *c != ')').collect();
    t.parse().ok()
}

fn read_headers() -> Headers {
    let dir = header_dir();
    let mut functions = BTreeMap::new();
    let mut constants = BTreeMap::new();
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the headers in {}: {}", dir.display(), e));
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    let mut n_files = 0;
    for path in paths {
        if path.extension().map(|e| e != "h").unwrap_or(true) {
            continue;
        }
        n_files += 1;
        let text = strip_comments(&fs::read_to_string(&path).unwrap());
        // preprocessor lines: keep `#define TDL_NAME <integer>`, drop the rest
        let mut code = String::new();
        for line in text.lines() {
            let t = line.trim_start();
            if let Some(rest) = t.strip_prefix('#') {
                let mut words = rest.trim_start().splitn(3, char::is_whitespace);
                if words.next() == Some("define") {
                    let name = words.next().unwrap_or("");
                    let value = words.next().unwrap_or("");
                    if name.starts_with("TDL_") && !name.contains('(') {
                        if let Some(v) = parse_int(value) {
                            constants.insert(name.to_string(), v);
                        }
                    }
                }
                continue;
            }
            code.push_str(line);
            code.push('\n');
        }
        // enum bodies
        let mut rest = code.as_str();
        while let Some(p) = rest.find("enum ") {
            let after = &rest[p..];
            let open = match after.find('{') {
                Some(o) => o,
                None => break,
            };
            let close = after.find('}').expect("enum without }");
            for item in after[open + 1..close].split(',') {
                let mut kv = item.splitn(2, '=');
                let k = kv.next().unwrap().trim();
                if let Some(v) = kv.next() {
                    let v = parse_int(v)
                        .unwrap_or_else(|| panic!("enum value {} is not a literal", k));
                    constants.insert(k.to_string(), v);
                } else if !k.is_empty() {
                    panic!("{}: enum value {} is not written out", path.display(), k);
                }
            }
            rest = &after[close..];
        }
        // TDL_API declarations
        for stmt in code.split(';') {
            let at = match stmt.find("TDL_API") {
                Some(a) => a,
                None => continue,
            };
            let decl = &stmt[at + "TDL_API".len()..];
            let open = match decl.find('(') {
                Some(o) => o,
                None => continue,
            };
            let name = ident_before(decl, open);
            let ret = decl[..open].trim_end();
            let ret = ret[..ret.len() - name.len()].trim();
            let (params, _) = paren_body(decl, open);
            functions.insert(name, Sig { arity: arity(&params), returns: ret != "void" });
        }
    }
    assert!(n_files >= 5, "found only {} headers in {}", n_files, dir.display());
    assert!(functions.len() >= 100, "parsed only {} functions from {}", functions.len(),
            dir.display());
    Headers { functions, constants }
}

struct RustDecls {
    functions: BTreeMap<String, Sig>,
    constants: BTreeMap<String, i64>,
}

fn read_rust() -> RustDecls {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let text = strip_comments(&fs::read_to_string(path).unwrap());
    let mut functions = BTreeMap::new();
    let mut constants = BTreeMap::new();
    let mut rest = text.as_str();
    while let Some(p) = rest.find("pub fn ") {
        let after = &rest[p + "pub fn ".len()..];
        let open = after.find('(').unwrap();
        let name = after[..open].trim().to_string();
        let (params, end) = paren_body(after, open);
        let tail = &after[end..];
        let stop = tail.find(';').unwrap();
        let returns = tail[..stop].contains("->");
        functions.insert(name, Sig { arity: arity(&params), returns });
        rest = &after[end..];
    }
    for stmt in text.split(';') {
        let s = stmt.trim();
        if let Some(p) = s.find("pub const ") {
            let decl = &s[p + "pub const ".len()..];
            let name = decl[..decl.find(':').unwrap()].trim();
            let value = decl[decl.find('=').unwrap() + 1..].trim();
            if let Some(v) = parse_int(value) {
                constants.insert(name.to_string(), v);
            }
        }
    }
    RustDecls { functions, constants }
}

#[test]
fn every_header_function_is_declared() {
    let h = read_headers();
    let r = read_rust();
    let mut problems = Vec::new();
    for (name, sig) in &h.functions {
        match r.functions.get(name) {
            None => problems.push(format!("missing: {}", name)),
            Some(rs) if rs != sig => problems.push(format!(
                "{}: header has {} parameter(s) and {}, lib.rs has {} and {}",
                name,
                sig.arity,
                if sig.returns { "a result" } else { "void" },
                rs.arity,
                if rs.returns { "a result" } else { "void" }
            )),
            _ => {}
        }
    }
    for name in r.functions.keys() {
        if !h.functions.contains_key(name) {
            problems.push(format!("declared in lib.rs but not in the headers: {}", name));
        }
    }
    assert!(problems.is_empty(), "tiny-dl-sys is out of date with {}:\n  {}",
            header_dir().display(), problems.join("\n  "));
    println!("{} functions checked", h.functions.len());
}

#[test]
fn every_header_constant_is_defined() {
    let h = read_headers();
    let r = read_rust();
    let mut problems = Vec::new();
    for (name, value) in &h.constants {
        match r.constants.get(name) {
            None => problems.push(format!("missing: {} = {}", name, value)),
            Some(v) if v != value => {
                problems.push(format!("{}: header says {}, lib.rs says {}", name, value, v))
            }
            _ => {}
        }
    }
    assert!(problems.is_empty(), "tiny-dl-sys constants are out of date:\n  {}",
            problems.join("\n  "));
    assert!(h.constants.len() >= 50, "parsed only {} constants", h.constants.len());
}

#[test]
fn links_and_reports_a_version() {
    unsafe {
        let v = CStr::from_ptr(tiny_dl_sys::tdl_version()).to_str().unwrap().to_string();
        let n = tiny_dl_sys::tdl_version_number();
        let parts: Vec<u32> = v.split('.').map(|p| p.parse().unwrap()).collect();
        assert_eq!(parts.len(), 3, "version {:?}", v);
        assert_eq!(n, parts[0] * 10000 + parts[1] * 100 + parts[2]);
        let s = CStr::from_ptr(tiny_dl_sys::tdl_status_string(tiny_dl_sys::TDL_ERR_SHAPE));
        assert!(!s.to_bytes().is_empty());
        let mut ctx = std::ptr::null_mut();
        assert_eq!(tiny_dl_sys::tdl_ctx_create(&mut ctx), tiny_dl_sys::TDL_OK);
        assert_eq!(tiny_dl_sys::tdl_ctx_set_threads(ctx, 0), tiny_dl_sys::TDL_ERR_INVALID_ARGUMENT);
        let msg = CStr::from_ptr(tiny_dl_sys::tdl_last_error()).to_string_lossy().into_owned();
        assert!(!msg.is_empty());
        tiny_dl_sys::tdl_ctx_destroy(ctx);
    }
}
