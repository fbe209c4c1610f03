//! Arguments of the CLI commands and AMI actions that are more than a name: parsed here, without
//! FFI, so they are unit-tested and fuzzed (fuzz target `admin_args`).
use std::net::IpAddr;

/// The address of `multireg clear blocks [<address>]` and of AMI `MultiregClearBlocks`
/// (`Address:`): None clears every block. An IPv6 source written as `multireg show blocks` prints
/// it ("2001:db8:1:2::/64") stands for any address in it.
pub fn block_address(text: Option<&str>) -> Result<Option<IpAddr>, String> {
    let Some(text) = text else { return Ok(None) };
    let address = text.split_once('/').map_or(text, |(address, _)| address).trim();
    address.parse::<IpAddr>().map(Some).map_err(|_| format!("'{address}' is not an IP address"))
}

/// Tab completion: the candidates that start with the word typed so far.
pub fn completions(options: Vec<String>, word: &str) -> Vec<String> {
    options.into_iter().filter(|option| option.starts_with(word)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_addresses_as_typed_or_as_listed() {
        assert_eq!(block_address(None), Ok(None));
        assert_eq!(block_address(Some(" 10.0.0.7 ")), Ok(Some("10.0.0.7".parse().unwrap())));
        assert_eq!(block_address(Some("2001:db8:1:2::/64")), Ok(Some("2001:db8:1:2::".parse().unwrap())));
        assert!(block_address(Some("10.0.0")).unwrap_err().contains("'10.0.0'"));
        assert!(block_address(Some("")).is_err());
    }

    #[test]
    fn completion_keeps_matching_candidates_in_order() {
        let options = vec!["101".to_string(), "102".to_string(), "201".to_string()];
        assert_eq!(completions(options.clone(), "10"), ["101", "102"]);
        assert_eq!(completions(options.clone(), ""), options);
        assert!(completions(options, "3").is_empty());
    }
}
