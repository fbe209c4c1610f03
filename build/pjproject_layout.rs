//! Where a built Asterisk source tree keeps the bundled pjproject's headers. Shared by build.rs and
//! tests/build_layout.rs (no dependencies, no I/O beyond looking at folders).
use std::path::{Path, PathBuf};

/// The pjproject parts whose include folders the module needs.
pub const PJPROJECT_PARTS: [&str; 5] = ["pjlib", "pjlib-util", "pjnath", "pjmedia", "pjsip"];

/// The include folders of a pjproject tree (the folder holding pjlib/, pjsip/ ...).
pub fn pjproject_include_dirs(tree: &Path) -> Vec<PathBuf> {
    PJPROJECT_PARTS.iter().map(|part| tree.join(part).join("include")).collect()
}

/// The pjproject tree of a built Asterisk source tree. Asterisk unpacks the bundled pjproject
/// straight into third-party/pjproject/source/ (source/pjlib/include ...); a tree that holds it one
/// folder deeper (source/pjproject-2.x/pjlib) is accepted too. None if neither has pjlib/include.
pub fn pjproject_tree_in_asterisk_src(asterisk_src: &Path) -> Option<PathBuf> {
    let source = asterisk_src.join("third-party/pjproject/source");
    if source.join("pjlib/include").is_dir() {
        return Some(source);
    }
    let mut nested: Vec<PathBuf> = std::fs::read_dir(&source)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("pjlib/include").is_dir())
        .collect();
    nested.sort();
    nested.into_iter().next()
}
