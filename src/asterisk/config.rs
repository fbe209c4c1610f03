//! A configuration section as name/value pairs (templates resolved by Asterisk).

/// A section's name and its options in order.
pub type Section = (String, Vec<(String, String)>);
