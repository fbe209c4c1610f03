//! Deriving the secondary ("<ext>r") endpoint, auth and aor from the primary's objects.
//!
//! Input and output are sorcery object sets: (field name, value) pairs as
//! `ast_sorcery_objectset_create2()` produces them and `ast_sorcery_objectset_apply()` takes them.
//! Everything is copied except what identifies the object, so caller ID, context, codecs,
//! mailboxes and permissions follow the primary on every reload.

/// One sorcery field: (name, value).
pub type Field = (String, String);

pub const DEFAULT_SUFFIX: &str = "r";
/// Longest secondary object name accepted (matches Asterisk's AST_MAX_EXTENSION of 80).
pub const MAX_NAME_LEN: usize = 80;

/// Channel variable naming the extension that placed a call.
pub const VAR_EXTENSION: &str = "MULTIREG_EXTENSION";
/// Channel variable telling which device placed a call: "home" or "remote".
pub const VAR_DEVICE: &str = "MULTIREG_DEVICE";

/// Characters that would break a dial string (`PJSIP/101r`), a SIP URI user part or a
/// pjsip.conf section name.
const FORBIDDEN: &[char] = &['/', ',', '&', '@', ';', ':', '"', '<', '>', '\\', '[', ']', '(', ')', '='];

fn check_name_part(what: &str, text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("{what} is empty"));
    }
    match text.chars().find(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(c)) {
        Some(bad) => Err(format!("{what} '{text}' contains the character {bad:?}")),
        None => Ok(()),
    }
}

/// The secondary's name: primary + suffix (`101` → `101r`, `12345101` → `12345101r`).
pub fn secondary_name(primary: &str, suffix: &str) -> Result<String, String> {
    check_name_part("primary endpoint name", primary)?;
    check_name_part("secondary suffix", suffix)?;
    let name = format!("{primary}{suffix}");
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "secondary name '{name}' would be {} characters long, more than the {MAX_NAME_LEN} allowed",
            name.len()
        ));
    }
    // The secondary is an endpoint name like any other (fuzz target `names` found '$', '{' and
    // bidirectional controls passing the character check above).
    crate::policy::names::validate_extension_name(&name).map_err(|reason| format!("secondary name '{name}': {reason}"))?;
    Ok(name)
}

fn device_vars(extension: &str, device: &str) -> Vec<Field> {
    vec![(VAR_EXTENSION.to_string(), extension.to_string()), (VAR_DEVICE.to_string(), device.to_string())]
}

/// Variables to set on calls from the secondary endpoint (`MULTIREG_DEVICE=remote`).
pub fn secondary_channel_vars(extension: &str) -> Vec<Field> {
    device_vars(extension, "remote")
}

/// `ast_sorcery_objectset_create2(..., AST_HANDLER_PREFER_LIST)` returns an endpoint's `set_var`
/// entries as bare (VARIABLE, value) pairs. This turns every pair whose name is not a registered
/// endpoint field back into ("set_var", "VARIABLE=value"), the form the endpoint accepts.
/// (The string form, PREFER_STRING, joins them with commas and cannot be split safely.)
pub fn set_vars_from_objectset(fields: &[Field], is_registered_field: impl Fn(&str) -> bool) -> Vec<Field> {
    fields
        .iter()
        .map(|(name, value)| {
            if is_registered_field(name) {
                (name.clone(), value.clone())
            } else {
                ("set_var".to_string(), format!("{name}={value}"))
            }
        })
        .collect()
}

/// Access-rule fields of an endpoint (the fields `ast_append_acl` takes).
fn is_access_field(name: &str) -> bool {
    matches!(name.to_ascii_lowercase().as_str(), "acl" | "deny" | "permit" | "contact_acl" | "contact_deny" | "contact_permit")
}

/// The endpoint's object set with its read-back `acl`/`contact_acl` (Asterisk shows only the
/// first ACL: its name, or the words "deny/permit" for inline rules) replaced by the complete
/// rules read from the endpoint itself (see `asterisk::sorcery::endpoint_acl_rules`), so the
/// secondary refuses exactly the addresses the primary refuses.
pub fn with_access_rules(fields: &[Field], rules: &[Field]) -> Vec<Field> {
    let mut out: Vec<Field> = fields.iter().filter(|(name, _)| !is_access_field(name)).cloned().collect();
    out.extend(rules.iter().filter(|(name, value)| is_access_field(name) && !value.trim().is_empty()).cloned());
    out
}

/// The three object sets to create for the secondary, plus what the administrator should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryObjects {
    /// Id of all three objects (endpoint, auth and aor share it, as in a typical pjsip.conf).
    pub name: String,
    pub endpoint: Vec<Field>,
    /// None when the primary endpoint has no inbound auth.
    pub auth: Option<Vec<Field>>,
    pub aor: Vec<Field>,
    /// Things copied imperfectly; log each one as a warning.
    pub warnings: Vec<String>,
}

/// Fields never copied: `type` is set by the wizard, and an empty value is what Asterisk reports
/// for an unset field (several handlers refuse an empty string).
fn skipped(name: &str, value: &str) -> bool {
    value.trim().is_empty() || name.eq_ignore_ascii_case("type")
}

fn value_of<'a>(fields: &'a [Field], wanted: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(name, value)| name.eq_ignore_ascii_case(wanted) && !value.trim().is_empty())
        .map(|(_, value)| value.as_str())
}

/// Derives the secondary objects. `endpoint`, `auth` and `aor` are the primary's object sets
/// (set_var entries as ("set_var", "NAME=VALUE"), see [`set_vars_from_objectset`]).
pub fn derive_secondary(
    primary: &str,
    suffix: &str,
    endpoint: &[Field],
    auth: Option<&[Field]>,
    aor: Option<&[Field]>,
    secondary_max_devices: u32,
) -> Result<SecondaryObjects, String> {
    let name = secondary_name(primary, suffix)?;
    if secondary_max_devices == 0 {
        return Err(format!("{name}: the secondary must allow at least one device (max_contacts 0 refuses every registration)"));
    }
    // Inline rules that were not replaced by `with_access_rules` cannot be copied: a secondary
    // without them would accept the primary's password from addresses the primary refuses.
    if let Some((field, _)) = endpoint
        .iter()
        .find(|(f, v)| (f.eq_ignore_ascii_case("acl") || f.eq_ignore_ascii_case("contact_acl")) && v.trim() == "deny/permit")
    {
        return Err(format!(
            "endpoint {primary} restricts addresses with inline deny/permit rules ({field}) that could not be read, \
             so no secondary {name} is created (it would accept the password from any address)"
        ));
    }
    let mut warnings = Vec::new();
    let endpoint = derive_endpoint(primary, &name, endpoint, auth.is_some());
    let auth = auth.map(|fields| derive_auth(primary, &name, fields, &mut warnings));
    let aor = derive_aor(aor.unwrap_or(&[]), secondary_max_devices);
    Ok(SecondaryObjects { name, endpoint, auth, aor, warnings })
}

fn derive_endpoint(primary: &str, name: &str, fields: &[Field], has_auth: bool) -> Vec<Field> {
    let mut out = Vec::new();
    for (field, value) in fields {
        if skipped(field, value) {
            continue;
        }
        match field.to_ascii_lowercase().as_str() {
            // Identity: the secondary has its own aor and auth; added below.
            "aors" | "auth" => {}
            // Still reported by Asterisk 22 for compatibility, but refused with a warning when set.
            "stir_shaken" => {}
            "set_var" => {
                // Our own markers are replaced, so a primary that carries them does not leak "home".
                let var = value.split_once('=').map_or(value.as_str(), |(n, _)| n).trim();
                if !var.eq_ignore_ascii_case(VAR_EXTENSION) && !var.eq_ignore_ascii_case(VAR_DEVICE) {
                    out.push((field.clone(), value.clone()));
                }
            }
            // The codec list reads back as "(ulaw|alaw)" but is written as "ulaw,alaw".
            "allow" => {
                if let Some(list) = codec_list(value) {
                    out.push((field.clone(), list));
                }
            }
            // The secondary is found by its user name (101r); an endpoint identified only by IP
            // would never see its REGISTERs.
            "identify_by" => {
                let methods: Vec<&str> = value.split(',').map(str::trim).collect();
                let mut value = value.clone();
                if !methods.iter().any(|m| m.eq_ignore_ascii_case("username") || m.eq_ignore_ascii_case("auth_username")) {
                    value.push_str(",username");
                }
                out.push((field.clone(), value));
            }
            _ => out.push((field.clone(), value.clone())),
        }
    }
    out.push(("aors".to_string(), name.to_string()));
    if has_auth {
        out.push(("auth".to_string(), name.to_string()));
    }
    for (var, value) in secondary_channel_vars(primary) {
        out.push(("set_var".to_string(), format!("{var}={value}")));
    }
    out
}

/// "(ulaw|alaw)" → "ulaw,alaw"; "(nothing)" or "()" → None. Anything else is taken as written.
fn codec_list(value: &str) -> Option<String> {
    let value = value.trim();
    let inner = match value.strip_prefix('(').and_then(|v| v.strip_suffix(')')) {
        Some(inner) => inner,
        None => return Some(value.to_string()),
    };
    let codecs: Vec<&str> = inner.split(['|', ',']).map(str::trim).filter(|c| !c.is_empty() && *c != "nothing").collect();
    (!codecs.is_empty()).then(|| codecs.join(","))
}

fn derive_auth(primary: &str, name: &str, fields: &[Field], warnings: &mut Vec<String>) -> Vec<Field> {
    // Stored digests hash "username:realm:password", so they only work for the user name they
    // were made with. With a plain password the digests are dropped and Asterisk hashes the
    // password for 101r itself; without one, the primary's user name has to stay.
    let has_password = value_of(fields, "password").is_some();
    let has_digest = value_of(fields, "md5_cred").is_some() || value_of(fields, "password_digest").is_some();
    let keep_username = has_digest && !has_password;
    let primary_user = value_of(fields, "username").unwrap_or(primary).to_string();
    if keep_username {
        warnings.push(format!(
            "auth {primary} stores only password hashes (md5_cred/password_digest), which are tied to user \
             name '{primary_user}'; device {name} must authenticate with authorization user name '{primary_user}'. \
             Set a plain password on {primary} to let it authenticate as '{name}'."
        ));
    }
    let mut out = Vec::new();
    for (field, value) in fields {
        if skipped(field, value) {
            continue;
        }
        match field.to_ascii_lowercase().as_str() {
            "username" => {}
            "md5_cred" | "password_digest" if !keep_username => {}
            _ => out.push((field.clone(), value.clone())),
        }
    }
    let username = if keep_username { primary_user } else { name.to_string() };
    out.push(("username".to_string(), username));
    out
}

fn derive_aor(fields: &[Field], max_devices: u32) -> Vec<Field> {
    let mut out: Vec<Field> = fields
        .iter()
        .filter(|(field, value)| !skipped(field, value))
        // Static contacts point at the primary's devices; max_contacts is the secondary's own.
        .filter(|(field, _)| !field.eq_ignore_ascii_case("contact") && !field.eq_ignore_ascii_case("max_contacts"))
        .cloned()
        .collect();
    out.push(("max_contacts".to_string(), max_devices.to_string()));
    out
}

/// The message for a secondary name already taken by hand-configured objects; None when free.
pub fn collision_report(name: &str, existing_types: &[&str]) -> Option<String> {
    let mut types: Vec<&str> = Vec::new();
    for kind in existing_types.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !types.iter().any(|seen| seen.eq_ignore_ascii_case(kind)) {
            types.push(kind);
        }
    }
    let listed = match types.as_slice() {
        [] => return None,
        [one] => format!("an {one}"),
        [rest @ .., last] => format!("an {} and {last}", rest.join(", ")),
    };
    Some(format!(
        "dual registration: '{name}' is already configured as {listed} outside res_pjsip_multireg; \
         the existing object is left untouched and no secondary is created. \
         Rename that object or choose another suffix."
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secondary_names_are_valid_extension_names() {
        use super::secondary_name;
        assert_eq!(secondary_name("101", "r"), Ok("101r".to_string()));
        for (primary, suffix) in [("evil\u{202e}gpj", "r"), ("101", "${X}"), ("ä", "r"), ("101", "{r}"), ("1|2", "r")] {
            assert!(secondary_name(primary, suffix).is_err(), "{primary}{suffix}");
        }
    }

    #[test]
    fn deprecated_stir_shaken_field_is_not_copied() {
        let endpoint = vec![("stir_shaken".to_string(), "off".to_string()), ("context".to_string(), "internal".to_string())];
        let derived = super::derive_secondary("101", "r", &endpoint, None, None, 1).unwrap();
        assert!(!derived.endpoint.iter().any(|(k, _)| k == "stir_shaken"));
        assert!(derived.endpoint.iter().any(|(k, v)| k == "context" && v == "internal"));
    }

    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<Field> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn all<'a>(set: &'a [Field], name: &str) -> Vec<&'a str> {
        set.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    fn one<'a>(set: &'a [Field], name: &str) -> Option<&'a str> {
        let values = all(set, name);
        assert!(values.len() <= 1, "{name} appears {} times", values.len());
        values.first().copied()
    }

    #[test]
    fn names() {
        assert_eq!(secondary_name("101", "r").unwrap(), "101r");
        assert_eq!(secondary_name("12345101", DEFAULT_SUFFIX).unwrap(), "12345101r");
        assert_eq!(secondary_name("alice.smith", "-remote").unwrap(), "alice.smith-remote");
        assert!(secondary_name("", "r").unwrap_err().contains("empty"));
        assert!(secondary_name("101", "").unwrap_err().contains("suffix"));
        assert!(secondary_name("101", "r 2").is_err());
        assert!(secondary_name("101", "/x").is_err());
        assert!(secondary_name("1@01", "r").is_err());
        assert_eq!(secondary_name(&"1".repeat(79), "r").unwrap().len(), 80);
        assert!(secondary_name(&"1".repeat(80), "r").unwrap_err().contains("81 characters"));
    }

    #[test]
    fn channel_vars() {
        assert_eq!(secondary_channel_vars("101"), fields(&[("MULTIREG_EXTENSION", "101"), ("MULTIREG_DEVICE", "remote")]));
    }

    #[test]
    fn bare_channel_variables_become_set_var() {
        let raw = fields(&[("context", "internal"), ("CDR_TAG", "a=b"), ("callerid", "\"Al\" <101>")]);
        let out = set_vars_from_objectset(&raw, |n| n == "context" || n == "callerid");
        assert_eq!(out, fields(&[("context", "internal"), ("set_var", "CDR_TAG=a=b"), ("callerid", "\"Al\" <101>")]));
    }

    fn primary_endpoint() -> Vec<Field> {
        fields(&[
            ("type", ""),
            ("context", "internal"),
            ("callerid", "\"Alice\" <101>"),
            ("allow", "(ulaw|alaw|g722)"),
            ("aors", "101,101-extra"),
            ("auth", "101-auth"),
            ("outbound_auth", "trunk-auth"),
            ("mailboxes", "101@default"),
            ("transport", ""),
            ("identify_by", "username,ip"),
            ("set_var", "CDR_TAG=vip"),
            ("set_var", "MULTIREG_DEVICE=home"),
            ("acl", "office"),
        ])
    }

    #[test]
    fn endpoint_copies_everything_but_identity() {
        let out = derive_secondary(
            "101",
            "r",
            &primary_endpoint(),
            Some(&fields(&[("username", "101"), ("password", "s3cret")])),
            None,
            1,
        )
        .unwrap();
        assert_eq!(out.name, "101r");
        let ep = &out.endpoint;
        assert_eq!(one(ep, "context"), Some("internal"));
        assert_eq!(one(ep, "callerid"), Some("\"Alice\" <101>"));
        assert_eq!(one(ep, "allow"), Some("ulaw,alaw,g722"));
        assert_eq!(one(ep, "aors"), Some("101r"));
        assert_eq!(one(ep, "auth"), Some("101r"));
        assert_eq!(one(ep, "outbound_auth"), Some("trunk-auth"));
        assert_eq!(one(ep, "mailboxes"), Some("101@default"));
        assert_eq!(one(ep, "identify_by"), Some("username,ip"));
        assert_eq!(one(ep, "acl"), Some("office"));
        assert_eq!(one(ep, "type"), None);
        assert_eq!(one(ep, "transport"), None, "empty values are not written");
        assert_eq!(all(ep, "set_var"), vec!["CDR_TAG=vip", "MULTIREG_EXTENSION=101", "MULTIREG_DEVICE=remote"]);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn endpoint_without_auth_gets_none() {
        let out = derive_secondary("101", "r", &primary_endpoint(), None, None, 1).unwrap();
        assert_eq!(out.auth, None);
        assert_eq!(one(&out.endpoint, "auth"), None);
        assert_eq!(one(&out.endpoint, "aors"), Some("101r"));
    }

    #[test]
    fn ip_only_identification_gains_username() {
        let ep = fields(&[("identify_by", "ip")]);
        let out = derive_secondary("101", "r", &ep, None, None, 1).unwrap();
        assert_eq!(one(&out.endpoint, "identify_by"), Some("ip,username"));
        let ep = fields(&[("identify_by", "auth_username")]);
        let out = derive_secondary("101", "r", &ep, None, None, 1).unwrap();
        assert_eq!(one(&out.endpoint, "identify_by"), Some("auth_username"));
    }

    #[test]
    fn codec_list_forms() {
        assert_eq!(codec_list("(ulaw)").as_deref(), Some("ulaw"));
        assert_eq!(codec_list("(nothing)"), None);
        assert_eq!(codec_list("()"), None);
        assert_eq!(codec_list("ulaw,opus").as_deref(), Some("ulaw,opus"));
        let out = derive_secondary("101", "r", &fields(&[("allow", "(nothing)")]), None, None, 1).unwrap();
        assert_eq!(one(&out.endpoint, "allow"), None);
    }

    #[test]
    fn unreadable_inline_acl_refuses_the_secondary() {
        for field in ["acl", "contact_acl"] {
            let ep = fields(&[("context", "internal"), (field, "deny/permit")]);
            let error = derive_secondary("101", "r", &ep, None, None, 1).unwrap_err();
            assert!(error.contains("no secondary 101r") && error.contains(field), "{error}");
        }
    }

    #[test]
    fn complete_access_rules_are_copied_in_order() {
        // What the object set shows: the first ACL only.
        let ep = fields(&[("context", "internal"), ("acl", "deny/permit"), ("contact_acl", "office")]);
        let rules = fields(&[
            ("deny", "0.0.0.0/0"),
            ("permit", "192.168.0.0/16"),
            ("deny", "192.168.9.9/32"),
            ("acl", "office"),
            ("acl", "vpn"),
            ("contact_acl", "office"),
            ("contact_deny", "10.0.0.0/8"),
        ]);
        let out = derive_secondary("101", "r", &with_access_rules(&ep, &rules), None, None, 1).unwrap();
        let copied: Vec<(&str, &str)> =
            out.endpoint.iter().filter(|(n, _)| is_access_field(n)).map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            copied,
            [
                ("deny", "0.0.0.0/0"),
                ("permit", "192.168.0.0/16"),
                ("deny", "192.168.9.9/32"),
                ("acl", "office"),
                ("acl", "vpn"),
                ("contact_acl", "office"),
                ("contact_deny", "10.0.0.0/8")
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        // No rules: nothing restricts the primary, nothing restricts the secondary.
        let out = derive_secondary("101", "r", &with_access_rules(&fields(&[("context", "x")]), &[]), None, None, 1).unwrap();
        assert!(!out.endpoint.iter().any(|(n, _)| is_access_field(n)));
    }

    #[test]
    fn auth_with_password_is_renamed_and_stale_hashes_dropped() {
        let auth = fields(&[
            ("type", ""),
            ("auth_type", "digest"),
            ("username", "101"),
            ("password", "s3cret"),
            ("md5_cred", "0123456789abcdef0123456789abcdef"),
            ("password_digest", "MD5:0123456789abcdef0123456789abcdef"),
            ("realm", "pbx"),
            ("nonce_lifetime", "32"),
        ]);
        let out = derive_secondary("101", "r", &[], Some(&auth), None, 1).unwrap();
        let auth = out.auth.unwrap();
        assert_eq!(one(&auth, "username"), Some("101r"));
        assert_eq!(one(&auth, "password"), Some("s3cret"));
        assert_eq!(one(&auth, "auth_type"), Some("digest"));
        assert_eq!(one(&auth, "realm"), Some("pbx"));
        assert_eq!(one(&auth, "nonce_lifetime"), Some("32"));
        assert_eq!(one(&auth, "md5_cred"), None);
        assert_eq!(one(&auth, "password_digest"), None);
        assert_eq!(one(&auth, "type"), None);
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn hash_only_auth_keeps_the_primary_user_name_and_warns() {
        let auth = fields(&[
            ("auth_type", "md5"),
            ("username", "101"),
            ("password", ""),
            ("md5_cred", "0123456789abcdef0123456789abcdef"),
        ]);
        let out = derive_secondary("101", "r", &[], Some(&auth), None, 1).unwrap();
        let derived = out.auth.unwrap();
        assert_eq!(one(&derived, "username"), Some("101"));
        assert_eq!(one(&derived, "md5_cred"), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(one(&derived, "auth_type"), Some("md5"));
        assert_eq!(one(&derived, "password"), None);
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].contains("authorization user name '101'"));
    }

    #[test]
    fn aor_shares_mailboxes_but_not_contacts() {
        let aor = fields(&[
            ("type", ""),
            ("max_contacts", "5"),
            ("mailboxes", "101@default"),
            ("contact", "sip:101@192.0.2.1"),
            ("contact", "sip:101@192.0.2.2"),
            ("remove_existing", "yes"),
            ("qualify_frequency", "60"),
            ("outbound_proxy", ""),
        ]);
        let out = derive_secondary("101", "r", &[], None, Some(&aor), 2).unwrap();
        assert_eq!(one(&out.aor, "max_contacts"), Some("2"));
        assert_eq!(one(&out.aor, "mailboxes"), Some("101@default"));
        assert_eq!(one(&out.aor, "contact"), None);
        assert_eq!(one(&out.aor, "remove_existing"), Some("yes"));
        assert_eq!(one(&out.aor, "qualify_frequency"), Some("60"));
        assert_eq!(one(&out.aor, "outbound_proxy"), None);
        assert_eq!(one(&out.aor, "type"), None);
    }

    #[test]
    fn missing_aor_still_gets_one_and_zero_devices_is_refused() {
        let out = derive_secondary("101", "r", &[], None, None, 1).unwrap();
        assert_eq!(out.aor, fields(&[("max_contacts", "1")]));
        assert!(derive_secondary("101", "r", &[], None, None, 0).unwrap_err().contains("at least one"));
        assert!(derive_secondary("", "r", &[], None, None, 1).is_err());
    }

    #[test]
    fn collisions() {
        assert_eq!(collision_report("101r", &[]), None);
        assert_eq!(collision_report("101r", &["", " "]), None);
        let one = collision_report("101r", &["endpoint"]).unwrap();
        assert!(one.contains("'101r' is already configured as an endpoint"), "{one}");
        assert!(one.contains("left untouched"));
        let many = collision_report("101r", &["endpoint", "auth", "aor", "auth"]).unwrap();
        assert!(many.contains("an endpoint, auth and aor"), "{many}");
    }
}
