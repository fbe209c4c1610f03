//! Reads sections of one type from an Asterisk configuration file (templates resolved by Asterisk).
use super::text::{from_c, to_c};
use crate::bindings;

pub type Section = (String, Vec<(String, String)>);

/// All non-template sections of `file` whose `type` is `type_name`, with their options in order.
pub fn load_sections(file: &str, type_name: &str) -> Result<Vec<Section>, String> {
    let file_c = to_c(file);
    let who = to_c("res_pjsip_multireg");
    let filter = to_c(&format!("type={type_name}"));
    let flags = bindings::ast_flags { flags: 0 };
    // SAFETY: ast_config_load2 copies its arguments; the result is ours to destroy below.
    let config = unsafe { bindings::ast_config_load2(file_c.as_ptr(), who.as_ptr(), flags) };
    // CONFIG_STATUS_FILEMISSING is NULL, FILEUNCHANGED is -1 and FILEINVALID is -2.
    let status = config as isize;
    if status == 0 {
        return Err(format!("{file} not found"));
    }
    if status == -1 || status == -2 {
        return Err(format!("{file} could not be parsed"));
    }
    let mut sections = Vec::new();
    let mut category: *mut bindings::ast_category = std::ptr::null_mut();
    loop {
        // SAFETY: config is a valid loaded configuration; category is null or one it returned.
        category = unsafe { bindings::ast_category_browse_filtered(config, std::ptr::null(), category, filter.as_ptr()) };
        if category.is_null() {
            break;
        }
        // SAFETY: category belongs to config, which is alive until ast_config_destroy below.
        unsafe {
            if bindings::ast_category_is_template(category) != 0 {
                continue;
            }
            let name = from_c(bindings::ast_category_get_name(category));
            let mut options = Vec::new();
            let mut variable = bindings::ast_category_first(category);
            while !variable.is_null() {
                options.push((from_c((*variable).name), from_c((*variable).value)));
                variable = (*variable).next;
            }
            sections.push((name, options));
        }
    }
    // SAFETY: config came from ast_config_load2 and is not used after this.
    unsafe { bindings::ast_config_destroy(config) };
    Ok(sections)
}
