//! A configuration section as name/value pairs (templates resolved by Asterisk).

/// A section's name and its options in order.
pub type Section = (String, Vec<(String, String)>);

/// The options of one category of a configuration file (e.g. res_pgsql.conf [general]); None
/// when the file or the category is missing.
pub fn category(file: &str, name: &str) -> Option<Vec<(String, String)>> {
    use super::text::{from_c, to_c};
    use crate::bindings;
    let (file_c, who, name_c) = (to_c(file), to_c("res_pjsip_multireg"), to_c(name));
    let flags = bindings::ast_flags { flags: 0 };
    // SAFETY: ast_config_load2 copies its arguments; the result is destroyed below.
    let config = unsafe { bindings::ast_config_load2(file_c.as_ptr(), who.as_ptr(), flags) };
    // CONFIG_STATUS_FILEMISSING is NULL, FILEUNCHANGED is -1 and FILEINVALID is -2.
    if (-2..=0).contains(&(config as isize)) {
        return None;
    }
    let mut options = Vec::new();
    // SAFETY: config is a valid loaded configuration; the variables belong to it until destroyed.
    unsafe {
        let mut variable = bindings::ast_variable_browse(config, name_c.as_ptr());
        while !variable.is_null() {
            options.push((from_c((*variable).name), from_c((*variable).value)));
            variable = (*variable).next;
        }
        bindings::ast_config_destroy(config);
    }
    (!options.is_empty()).then_some(options)
}
