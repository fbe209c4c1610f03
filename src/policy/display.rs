//! Text from devices (User-Agent, Contact, addresses) shown to administrators on the CLI and in
//! AMI: control characters are written out as `\xHH` (or `\u{...}`), so a device cannot clear the
//! administrator's terminal, recolour it, or break an AMI line.

/// Invisible characters that reorder or hide text (bidirectional overrides and isolates).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character escaped; everything else unchanged.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

/// Appends "address:port" ("[v6]:port"); IPv4, the usual case, without the formatting machinery
/// (this runs for every new binding's AMI event).
pub fn push_socket_address(out: &mut String, address: std::net::SocketAddr) {
    use std::fmt::Write;
    match address {
        std::net::SocketAddr::V4(v4) => {
            for (index, octet) in v4.ip().octets().into_iter().enumerate() {
                if index > 0 {
                    out.push('.');
                }
                push_decimal(out, u64::from(octet));
            }
            out.push(':');
            push_decimal(out, u64::from(v4.port()));
        }
        v6 => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `value` in decimal, without the formatting machinery (cold code on the REGISTER path).
pub fn push_decimal(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

/// Appends `text` to `out` as `escape_controls` writes it, without a String of its own.
pub fn push_escaped(out: &mut String, text: &str) {
    // Printable ASCII, the usual case, is checked byte by byte.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) || !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        if (c.is_control() || is_bidi_control(c)) && (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else if c.is_control() || is_bidi_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_print_as_rust_prints_them() {
        for text in ["127.0.0.1:5060", "0.0.0.0:0", "255.255.255.255:65535", "10.20.3.40:7", "[::1]:5061", "[fe80::1%2]:5060"] {
            let address: std::net::SocketAddr = text.parse().unwrap();
            let mut out = String::from("x ");
            push_socket_address(&mut out, address);
            assert_eq!(out, format!("x {address}"));
        }
    }

    #[test]
    fn decimals_print_as_rust_prints_them() {
        for value in [0, 7, 10, 3600, u64::from(u32::MAX), u64::MAX] {
            let mut out = String::from("n=");
            push_decimal(&mut out, value);
            assert_eq!(out, format!("n={value}"));
        }
    }

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
}
