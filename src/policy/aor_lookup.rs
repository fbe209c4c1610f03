//! Which AOR a REGISTER binds to, found the way Asterisk 22's registrar finds it
//! (`find_registrar_aor` in res_pjsip_registrar.c): the To URI's user and host against the
//! endpoint's `aors` list (exact `user@domain`, then `user@alias` of a domain alias, then `user`),
//! then, for endpoints identified by auth username, each Digest username and realm.

/// What the registrar reads from the request and the endpoint.
#[derive(Debug, Clone, Copy)]
pub struct AorQuery<'a> {
    pub to_user: &'a str,
    pub to_host: &'a str,
    /// res_pjsip's global `ignore_uri_user_options`: the user part ends at its first ';'.
    pub ignore_uri_user_options: bool,
    /// (username, realm) of each Digest Authorization header.
    pub digest_users: &'a [(String, String)],
    /// The endpoint has `auth_username` in its `identify_by`.
    pub identify_by_auth_username: bool,
    /// The endpoint's `aors` option (comma-separated).
    pub aors: &'a str,
}

/// One name of the `aors` list matched against `user` and `domain`; `alias` gives the domain a
/// `domain_alias` object maps `domain` to, if any.
pub fn find_aor_name<'a>(user: &str, domain: &str, aors: &'a str, alias: &dyn Fn(&str) -> Option<String>) -> Option<&'a str> {
    let names = || aors.split(',').map(str::trim).filter(|name| !name.is_empty());
    // `name == user@domain`, compared without building the text.
    let is_user_at = |name: &str, domain: &str| {
        name.len() == user.len() + 1 + domain.len()
            && name.starts_with(user)
            && name[user.len()..].starts_with('@')
            && name.ends_with(domain)
    };
    if let Some(name) = names().find(|name| is_user_at(name, domain)) {
        return Some(name);
    }
    // Only a name holding '@' can be `user@alias`: without one, the alias lookup (a sorcery
    // retrieve) cannot change the answer.
    if aors.contains('@') {
        if let Some(aliased) = alias(domain) {
            if let Some(name) = names().find(|name| is_user_at(name, &aliased)) {
                return Some(name);
            }
        }
    }
    if user.is_empty() {
        return None;
    }
    names().find(|name| *name == user)
}

/// The AOR the registrar will store this REGISTER's bindings in, or None when it will answer 404.
pub fn registrar_aor<'a>(query: &AorQuery<'a>, alias: &dyn Fn(&str) -> Option<String>) -> Option<&'a str> {
    let user = if query.ignore_uri_user_options { query.to_user.split(';').next().unwrap_or("") } else { query.to_user };
    if let Some(name) = find_aor_name(user, query.to_host, query.aors, alias) {
        return Some(name);
    }
    if !query.identify_by_auth_username {
        return None;
    }
    query.digest_users.iter().find_map(|(username, realm)| find_aor_name(username, realm, query.aors, alias))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_alias(_: &str) -> Option<String> {
        None
    }

    fn query<'a>(to_user: &'a str, to_host: &'a str, aors: &'a str) -> AorQuery<'a> {
        AorQuery { to_user, to_host, ignore_uri_user_options: false, digest_users: &[], identify_by_auth_username: false, aors }
    }

    #[test]
    fn user_at_domain_wins_over_user() {
        assert_eq!(registrar_aor(&query("101", "pbx", "101, 101@pbx"), &no_alias), Some("101@pbx"));
        assert_eq!(registrar_aor(&query("101", "other", "101, 101@pbx"), &no_alias), Some("101"));
        assert_eq!(registrar_aor(&query("102", "pbx", "101"), &no_alias), None);
    }

    #[test]
    fn the_alias_is_looked_up_only_when_a_name_could_match_it() {
        let asked = std::cell::Cell::new(0);
        let alias = |domain: &str| {
            asked.set(asked.get() + 1);
            (domain == "alias.example").then(|| "pbx".to_string())
        };
        assert_eq!(registrar_aor(&query("101", "alias.example", "101, 102"), &alias), Some("101"));
        assert_eq!(asked.get(), 0, "no name holds '@': user@alias cannot match");
        assert_eq!(registrar_aor(&query("101", "alias.example", "102@pbx, 101"), &alias), Some("101"));
        assert_eq!(asked.get(), 1);
        // user@domain compares exactly, also where a prefix or suffix would match.
        assert_eq!(registrar_aor(&query("10", "pbx", "101@pbx, 10@pbx2, 10@pbx"), &no_alias), Some("10@pbx"));
        assert_eq!(registrar_aor(&query("10", "pbx", "101@pbx, 10@pbx2"), &no_alias), None);
    }

    #[test]
    fn a_domain_alias_is_tried_before_the_bare_user() {
        let alias = |domain: &str| (domain == "alias.example").then(|| "pbx".to_string());
        assert_eq!(registrar_aor(&query("101", "alias.example", "101,101@pbx"), &alias), Some("101@pbx"));
    }

    #[test]
    fn an_empty_user_matches_nothing_but_an_exact_user_at_domain() {
        assert_eq!(registrar_aor(&query("", "pbx", "101"), &no_alias), None);
        assert_eq!(registrar_aor(&query("", "pbx", "@pbx"), &no_alias), Some("@pbx"));
    }

    #[test]
    fn user_options_are_cut_only_when_asked() {
        let mut q = query("101;npdi", "pbx", "101");
        assert_eq!(registrar_aor(&q, &no_alias), None);
        q.ignore_uri_user_options = true;
        assert_eq!(registrar_aor(&q, &no_alias), Some("101"));
    }

    #[test]
    fn auth_username_is_used_only_with_identify_by_auth_username() {
        let users = [("101".to_string(), "asterisk".to_string())];
        let mut q = AorQuery { digest_users: &users, ..query("someone-else", "pbx", "101@asterisk") };
        assert_eq!(registrar_aor(&q, &no_alias), None);
        q.identify_by_auth_username = true;
        assert_eq!(registrar_aor(&q, &no_alias), Some("101@asterisk"));
    }

    #[test]
    fn names_are_compared_exactly_after_trimming() {
        assert_eq!(registrar_aor(&query("101", "h", " 100 ,  101 "), &no_alias), Some("101"));
        assert_eq!(registrar_aor(&query("101", "h", "1010,10"), &no_alias), None);
        assert_eq!(registrar_aor(&query("ABC", "h", "abc"), &no_alias), None);
    }
}
