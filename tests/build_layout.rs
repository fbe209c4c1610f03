//! build.rs finds the bundled pjproject of an ASTERISK_SRC tree where Asterisk unpacks it.
#[path = "../build/pjproject_layout.rs"]
mod pjproject_layout;

use pjproject_layout::{pjproject_include_dirs, pjproject_tree_in_asterisk_src};
use std::path::Path;

fn make_pjlib(tree: &Path) {
    std::fs::create_dir_all(tree.join("pjlib/include/pj")).unwrap();
}

#[test]
fn asterisk_src_pjproject_unpacked_straight_into_source() {
    let src = tempfile::tempdir().unwrap();
    let source = src.path().join("third-party/pjproject/source");
    make_pjlib(&source);
    // Other folders beside pjlib (as in a real unpacked tree) must not be taken for the tree.
    std::fs::create_dir_all(source.join("aconfigure.d")).unwrap();
    std::fs::create_dir_all(source.join("pjsip/include")).unwrap();
    assert_eq!(pjproject_tree_in_asterisk_src(src.path()), Some(source.clone()));
    let dirs = pjproject_include_dirs(&source);
    assert_eq!(dirs[0], source.join("pjlib/include"));
    assert_eq!(dirs[4], source.join("pjsip/include"));
}

#[test]
fn asterisk_src_pjproject_one_folder_deeper() {
    let src = tempfile::tempdir().unwrap();
    let source = src.path().join("third-party/pjproject/source");
    std::fs::create_dir_all(source.join("patches")).unwrap();
    make_pjlib(&source.join("pjproject-2.17"));
    assert_eq!(pjproject_tree_in_asterisk_src(src.path()), Some(source.join("pjproject-2.17")));
}

#[test]
fn asterisk_src_without_pjproject() {
    let src = tempfile::tempdir().unwrap();
    assert_eq!(pjproject_tree_in_asterisk_src(src.path()), None);
    std::fs::create_dir_all(src.path().join("third-party/pjproject/source/pjsip")).unwrap();
    assert_eq!(pjproject_tree_in_asterisk_src(src.path()), None);
}
