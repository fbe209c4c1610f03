//! Which Asterisk headers this module was built against, as one line of text in the shared object
//! (`make install` reads it to refuse a module the running Asterisk would not load, and says why).
//! build.rs sets both values from the headers it used.

const TEXT: &str = concat!(
    "res_pjsip_multireg built for: buildopt_sum=",
    env!("MULTIREG_AST_BUILDOPT_SUM"),
    " version=",
    env!("MULTIREG_AST_VERSION"),
    " buildopts=",
    env!("MULTIREG_AST_BUILDOPTS"),
    ";"
);

const fn nul_terminated<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// Exported so the linker keeps it; nothing reads it at run time.
#[no_mangle]
pub static MULTIREG_BUILT_FOR: [u8; TEXT.len() + 1] = nul_terminated(TEXT);
