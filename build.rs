//! Builds the FFI layer: bindgen over include/wrapper.h and the C shim (include/shim.c) that holds
//! the real AST_MODULE_INFO. Both see the same include paths and defines.
//!
//! Header discovery, first match wins:
//!   ASTERISK_INCLUDE_DIR (folder holding asterisk.h) + PJPROJECT_INCLUDE_DIRS (':'-separated),
//!     optionally ASTERISK_VERSION (the version those headers are from, checked by `make install`)
//!   ASTERISK_SRC (a built Asterisk source tree; the bundled pjproject is third-party/pjproject/source)
//!   MULTIREG_CACHE, default ~/.cache/res_pjsip_multireg (what `make asterisk` prepares)
use std::env;
use std::fs;
use std::path::PathBuf;

#[path = "build/pjproject_layout.rs"]
mod pjproject_layout;
use pjproject_layout::{pjproject_include_dirs, pjproject_tree_in_asterisk_src};

const MODULE_DEFINES: &[(&str, &str)] = &[
    ("AST_MODULE_SELF_SYM", "__internal_res_pjsip_multireg_self"),
    ("AST_MODULE", "\"res_pjsip_multireg\""),
    ("PJ_AUTOCONF", "1"),
    ("_GNU_SOURCE", "1"),
];

struct Headers {
    asterisk: PathBuf,
    pjproject: Vec<PathBuf>,
    runtime_root: Option<PathBuf>,
    /// The Asterisk version the headers belong to, when known (a source tree's .version, the
    /// embedded runtime's package version, or ASTERISK_VERSION for installed headers).
    version: Option<String>,
}

fn read_trimmed(path: &std::path::Path) -> Option<String> {
    println!("cargo:rerun-if-changed={}", path.display());
    fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// "1:22.10.1+dfsg+~cs6.17.60671434-1" -> "22.10.1" (Debian version to upstream version).
fn upstream_version(debian: &str) -> String {
    let without_epoch = debian.split_once(':').map_or(debian, |(_, rest)| rest);
    without_epoch.split(['+', '~', '-']).next().unwrap_or(without_epoch).to_string()
}

fn fail(reason: &str) -> ! {
    panic!(
        "\n\nres_pjsip_multireg: {reason}\n\
         Asterisk 22 and pjproject headers are needed. Either run `make asterisk` (prepares them under\n\
         MULTIREG_CACHE, default ~/.cache/res_pjsip_multireg), or set ASTERISK_SRC to a built Asterisk\n\
         source tree, or set ASTERISK_INCLUDE_DIR (the folder holding asterisk.h) and\n\
         PJPROJECT_INCLUDE_DIRS (':'-separated pjlib, pjlib-util, pjnath, pjmedia, pjsip include folders).\n\n"
    )
}

fn find_headers() -> Headers {
    for var in ["ASTERISK_INCLUDE_DIR", "PJPROJECT_INCLUDE_DIRS", "ASTERISK_SRC", "ASTERISK_VERSION", "MULTIREG_CACHE", "HOME"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if let Ok(include) = env::var("ASTERISK_INCLUDE_DIR") {
        let pj = env::var("PJPROJECT_INCLUDE_DIRS")
            .unwrap_or_else(|_| fail("ASTERISK_INCLUDE_DIR is set but PJPROJECT_INCLUDE_DIRS is not"));
        let version = env::var("ASTERISK_VERSION").ok().filter(|v| !v.is_empty());
        return Headers { asterisk: include.into(), pjproject: env::split_paths(&pj).collect(), runtime_root: None, version };
    }
    if let Ok(src) = env::var("ASTERISK_SRC") {
        let src = PathBuf::from(src);
        let tree = pjproject_tree_in_asterisk_src(&src).unwrap_or_else(|| {
            fail(&format!(
                "ASTERISK_SRC={} has no bundled pjproject in third-party/pjproject/source \
                 (configure it with --with-pjproject-bundled and run make)",
                src.display()
            ))
        });
        let version = read_trimmed(&src.join(".version"));
        return Headers { asterisk: src.join("include"), pjproject: pjproject_include_dirs(&tree), runtime_root: None, version };
    }
    let cache = env::var("MULTIREG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env::var("HOME").unwrap_or_default()).join(".cache/res_pjsip_multireg"));
    Headers {
        asterisk: cache.join("include"),
        pjproject: pjproject_include_dirs(&cache.join("pjproject")),
        runtime_root: Some(cache.join("root")),
        version: read_trimmed(&cache.join("VERSION")).map(|v| upstream_version(&v)),
    }
}

/// The build-option checksum and the ABI build options of the headers.
fn check_headers(headers: &Headers) -> (String, String) {
    let asterisk_h = headers.asterisk.join("asterisk.h");
    if !asterisk_h.is_file() {
        fail(&format!("no asterisk.h in {}", headers.asterisk.display()));
    }
    for dir in &headers.pjproject {
        if !dir.is_dir() {
            fail(&format!("pjproject include folder {} is missing", dir.display()));
        }
    }
    if !headers.pjproject.iter().any(|d| d.join("pj/compat/os_auto.h").is_file()) {
        fail("pjproject headers are not configured (no pj/compat/os_auto.h)");
    }
    let buildopts = fs::read_to_string(headers.asterisk.join("asterisk/buildopts.h"))
        .unwrap_or_else(|_| fail("asterisk/buildopts.h is missing"));
    let sum = buildopts
        .lines()
        .find_map(|l| l.strip_prefix("#define AST_BUILDOPT_SUM "))
        .map(|s| s.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| fail("asterisk/buildopts.h has no AST_BUILDOPT_SUM"));
    let buildopts_list = buildopts
        .lines()
        .find_map(|l| l.strip_prefix("#define AST_BUILDOPTS "))
        .map(|s| s.trim().trim_matches('"').to_string())
        .unwrap_or_default();
    // The runtime refuses modules whose build-option checksum differs, so refuse such headers here.
    if let Some(root) = &headers.runtime_root {
        let binary = root.join("usr/sbin/asterisk");
        println!("cargo:rerun-if-changed={}", binary.display());
        if let Ok(bytes) = fs::read(&binary) {
            if !bytes.windows(sum.len()).any(|w| w == sum.as_bytes()) {
                fail(&format!(
                    "headers (AST_BUILDOPT_SUM {sum}) do not match the runtime {}; run `make asterisk` again",
                    binary.display()
                ));
            }
        }
    }
    (sum, buildopts_list)
}

fn main() {
    let headers = find_headers();
    let (sum, buildopts) = check_headers(&headers);
    println!("cargo:rustc-env=MULTIREG_AST_BUILDOPT_SUM={sum}");
    println!("cargo:rustc-env=MULTIREG_AST_BUILDOPTS={buildopts}");
    println!("cargo:rustc-env=MULTIREG_AST_VERSION={}", headers.version.as_deref().unwrap_or("unknown"));
    println!("cargo:rerun-if-changed=build/pjproject_layout.rs");
    println!("cargo:rerun-if-changed=include/wrapper.h");
    println!("cargo:rerun-if-changed=include/shim.c");
    println!("cargo:rerun-if-changed=include/shim.h");
    println!("cargo:rerun-if-changed=include/secondary_store.c");
    println!("cargo:rerun-if-changed=include/dialfx.c");
    println!("cargo:rerun-if-changed=include/dialfx.h");
    println!("cargo:rerun-if-changed=include/sorcery_types.c");
    println!("cargo:rerun-if-changed=include/sorcery_types.h");
    println!("cargo:rerun-if-changed=include/stasis_observers.c");

    let mut include_dirs = vec![PathBuf::from("include"), headers.asterisk.clone()];
    include_dirs.extend(headers.pjproject.iter().cloned());

    let mut shim = cc::Build::new();
    shim.file("include/shim.c")
        .file("include/secondary_store.c")
        .file("include/dialfx.c")
        .file("include/sorcery_types.c")
        .file("include/stasis_observers.c")
        .flag("-fPIC")
        .warnings(true)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-old-style-declaration")
        .flag_if_supported("-Wno-ignored-qualifiers");
    for dir in &include_dirs {
        shim.include(dir);
    }
    for (name, value) in MODULE_DEFINES {
        shim.define(name, Some(*value));
    }
    shim.cargo_metadata(false).compile("multireg_shim");
    // Only the cdylib links the shim (unit tests have no Asterisk to resolve it against), and
    // whole-archive keeps the object whose constructor registers the module.
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rustc-cdylib-link-arg=-Wl,--whole-archive,{}/libmultireg_shim.a,--no-whole-archive", out.display());

    let mut builder = bindgen::Builder::default()
        .header("include/wrapper.h")
        .clang_arg("-fblocks")
        .allowlist_function("ast_.*|__ast_.*|__ao2_.*|ao2_.*|pj.*|pbx_.*|astman_.*|multireg_shim_.*")
        .allowlist_type("ast_.*|ao2_.*|pj.*|multireg_.*")
        .allowlist_var("AST_.*|PJ.*|__LOG_.*|ast_.*|MULTIREG_.*")
        .opaque_type("ast_channel|ast_sorcery|ast_module|ast_config|pj_ioqueue_t|pj_pool_t")
        .blocklist_type("max_align_t")
        .layout_tests(false)
        .derive_default(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for dir in &include_dirs {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    for (name, value) in MODULE_DEFINES {
        builder = builder.clang_arg(format!("-D{name}={value}"));
    }
    builder
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen could not parse include/wrapper.h: {e}")))
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");
}
