//! Text from devices (User-Agent, Contact, addresses) shown to administrators on the CLI and in
//! AMI: control characters are written out as `\xHH` (or `\u{...}`), so a device cannot clear the
//! administrator's terminal, recolour it, or break an AMI line.

/// Invisible characters that reorder or hide text (bidirectional overrides and isolates).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character escaped; everything else unchanged.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if (c.is_control() || is_bidi_control(c)) && (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else if c.is_control() || is_bidi_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Like [`escape_controls`], but keeps line breaks and tabs: for log lines, which may span lines
/// on purpose but must not carry a device's terminal escapes onto the Asterisk console.
pub fn escape_controls_in_log(text: &str) -> String {
    if !text.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)) {
        return text.to_string();
    }
    text.split('\n')
        .map(|line| line.split('\t').map(escape_controls).collect::<Vec<_>>().join("\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Removes the credentials of `Authorization` and `Proxy-Authorization` headers from text that
/// may quote a SIP message (a parser's error message), so a log line never carries them.
pub fn redact_credentials(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("authorization") {
        let start = search + found;
        let after_name = start + "authorization".len();
        let value_start = lower[after_name..]
            .char_indices()
            .find(|(_, c)| *c != ' ' && *c != '\t')
            .filter(|(_, c)| *c == ':')
            .map(|(i, _)| after_name + i + 1);
        let Some(value_start) = value_start else {
            search = after_name;
            continue;
        };
        // The value runs to the end of the line (folded continuation lines included).
        let mut end = value_start;
        loop {
            match lower[end..].find('\n') {
                Some(newline) => {
                    end += newline + 1;
                    if !lower[end..].starts_with([' ', '\t']) {
                        end -= 1;
                        if lower[..end].ends_with('\r') {
                            end -= 1;
                        }
                        break;
                    }
                }
                None => {
                    end = lower.len();
                    break;
                }
            }
        }
        out.push_str(&text[rest..value_start]);
        out.push_str(" <redacted>");
        rest = end;
        search = end.max(after_name);
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("Yealink SIP-T46U"), "Yealink SIP-T46U");
        assert_eq!(escape_controls("\u{1b}[2J\u{1b}[31mZoiper\u{7}"), "\\x1b[2J\\x1b[31mZoiper\\x07");
        assert_eq!(escape_controls("a\r\nb\tc\u{7f}"), "a\\x0d\\x0ab\\x09c\\x7f");
        assert_eq!(escape_controls("x\u{9b}31m"), "x\\x9b31m", "C1 CSI");
        assert_eq!(escape_controls("evil\u{202e}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(escape_controls("Grandstream Wave – iOS ☎"), "Grandstream Wave – iOS ☎");
        assert_eq!(escape_controls_in_log("a\n\tb \u{1b}[2J"), "a\n\tb \\x1b[2J");
        assert_eq!(escape_controls_in_log("plain\nlines"), "plain\nlines");
    }

    #[test]
    fn authorization_values_are_redacted() {
        let message = "REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nAuthorization: Digest username=\"101\", \
                       response=\"0123\"\r\nProxy-Authorization : Digest x=1\r\n\tfolded=2\r\nUser-Agent: a\r\n\r\n";
        let redacted = redact_credentials(message);
        assert!(!redacted.contains("0123") && !redacted.contains("folded") && !redacted.contains("x=1"), "{redacted}");
        assert!(
            redacted.contains("Authorization: <redacted>\r\nProxy-Authorization : <redacted>\r\nUser-Agent: a"),
            "{redacted}"
        );
        assert_eq!(redact_credentials("no credentials here"), "no credentials here");
        assert_eq!(redact_credentials("authorization"), "authorization");
        assert_eq!(redact_credentials("AUTHORIZATION:secret"), "AUTHORIZATION: <redacted>");
        assert_eq!(redact_credentials("x-authorization-hint y"), "x-authorization-hint y");
    }

    #[test]
    fn a_parse_error_quoting_the_request_loses_its_credentials() {
        let message = "REGISTER sip:pbx SIP/2.0\r\nFrom x\r\nAuthorization: Digest username=\"101\", response=\"SECRET\"\r\n\r\n";
        let error = crate::policy::register::summarize_register(message.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("SECRET"), "the parser quotes the request: {error}");
        let logged = escape_controls(&redact_credentials(&error));
        assert!(!logged.contains("SECRET") && logged.contains("Authorization: <redacted>"), "{logged}");
    }
}
