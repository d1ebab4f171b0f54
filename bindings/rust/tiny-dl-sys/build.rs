//! Finds libtiny-dl for the linker.
//!
//! * `TINYDL_LIB_DIR=<dir>`: link `<dir>/libtiny-dl.so` and add `<dir>` to the
//!   run-time search path of this package's tests (`-Wl,-rpath,<dir>`); the
//!   directory is also published to dependents as `DEP_TINY_DL_LIB_DIR`, so
//!   that the `tiny-dl` crate can give its own tests the same rpath.
//! * otherwise: `pkg-config --libs tiny-dl` (set `PKG_CONFIG_PATH` for a
//!   non-standard prefix; `PKG_CONFIG` names another pkg-config program).
//!
//! No crates.io dependency: plain `std::process::Command`.
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TINYDL_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");

    if let Some(dir) = env::var_os("TINYDL_LIB_DIR") {
        let dir = PathBuf::from(dir);
        let dir = dir.canonicalize().unwrap_or(dir);
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=dylib=tiny-dl");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        println!("cargo:lib_dir={}", dir.display());
        return;
    }

    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let output = Command::new(&pkg_config).args(["--libs", "tiny-dl"]).output();
    let output = match output {
        Ok(o) => o,
        Err(e) => panic!(
            "tiny-dl-sys: cannot run `{} --libs tiny-dl` ({}). Install pkg-config, or set \
             TINYDL_LIB_DIR to the folder holding libtiny-dl.so",
            pkg_config, e
        ),
    };
    if !output.status.success() {
        panic!(
            "tiny-dl-sys: `{} --libs tiny-dl` failed: {}. Install tiny-dl (meson install), \
             point PKG_CONFIG_PATH at its pkgconfig folder, or set TINYDL_LIB_DIR",
            pkg_config,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let flags = String::from_utf8_lossy(&output.stdout).to_string();
    let mut linked = false;
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
            println!("cargo:lib_dir={}", dir);
        } else if let Some(lib) = flag.strip_prefix("-l") {
            if lib == "tiny-dl" {
                linked = true;
                println!("cargo:rustc-link-lib=dylib=tiny-dl");
            } else {
                println!("cargo:rustc-link-lib={}", lib);
            }
        }
    }
    if !linked {
        println!("cargo:rustc-link-lib=dylib=tiny-dl");
    }
}
