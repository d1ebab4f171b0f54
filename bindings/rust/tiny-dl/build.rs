//! Gives this crate's own tests and examples the run-time search path of the
//! library that tiny-dl-sys linked (`DEP_TINY_DL_LIB_DIR`, set when
//! `TINYDL_LIB_DIR` or a pkg-config `-L` named a folder), so that
//! `cargo test` runs against a library that is not installed system-wide.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TINY_DL_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_TINY_DL_LIB_DIR") {
        if !dir.is_empty() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
        }
    }
}
