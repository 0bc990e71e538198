//! Lets `cargo test` run this crate's test binary.
//!
//! Outside maturin (which sets `PYO3_BUILD_EXTENSION_MODULE` and then links nothing), pyo3 links
//! against libpython. Interpreters from pyenv, conda or uv keep that library outside the dynamic
//! loader's search path, so the test binary would fail to start; an rpath to the interpreter's
//! library directory fixes that without any `LD_LIBRARY_PATH` juggling.
fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_BUILD_EXTENSION_MODULE");
    if std::env::var_os("PYO3_BUILD_EXTENSION_MODULE").is_some() {
        return;
    }
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if (target_os == "linux" || target_os == "macos")
        && let Some(dir) = pyo3_build_config::get().lib_dir()
    {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
