//! What an extension (endpoint) name may be, everywhere the module takes one: in pjsip.conf, in
//! dialplan arguments, as an astdb key and inside a Dial string.

/// Longest name accepted (Asterisk's sorcery ids are longer; this keeps keys and Dial strings sane).
pub const MAX_NAME_LEN: usize = 80;

/// 1-80 characters of A-Z a-z 0-9 _ . + -.
pub fn validate_extension_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("extension name must be 1-{MAX_NAME_LEN} characters, got {}", name.len()));
    }
    match name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-'))) {
        Some(c) => Err(format!("extension name contains {c:?}; allowed are letters, digits and _ . + -")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_work_as_keys_and_in_dial_strings() {
        for good in ["101", "12345101", "alice.smith", "a+b", "x_y-z", &"9".repeat(80)] {
            assert_eq!(validate_extension_name(good), Ok(()), "{good}");
        }
        for bad in ["", "1 01", "101&102", "101,2", "a/b", "ä", "\"101\"", &"9".repeat(81)] {
            assert!(validate_extension_name(bad).is_err(), "{bad}");
        }
    }
}
