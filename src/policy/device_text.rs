//! A registered device's own text (Contact URI, Call-ID, source address, `+sip.instance`) in
//! one heap allocation. A book holds one per registered device: four strings would cost four
//! allocations with their headers and 96 bytes of struct; this costs one and 28.
use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct DeviceText {
    /// uri, call_id, source and instance, back to back.
    text: Box<str>,
    call_id_at: u32,
    source_at: u32,
    instance_at: u32,
}

impl DeviceText {
    /// An empty `instance` means none (`normalize_instance` never yields an empty one).
    pub fn new(uri: &str, call_id: &str, source: &str, instance: Option<&str>) -> DeviceText {
        let instance = instance.unwrap_or("");
        let mut text = String::with_capacity(uri.len() + call_id.len() + source.len() + instance.len());
        let mut next = |part: &str| {
            text.push_str(part);
            // A SIP message is far below 4 GB; saturating keeps the slices in bounds regardless.
            u32::try_from(text.len()).unwrap_or(u32::MAX)
        };
        let call_id_at = next(uri);
        let source_at = next(call_id);
        let instance_at = next(source);
        next(instance);
        DeviceText { text: text.into_boxed_str(), call_id_at, source_at, instance_at }
    }

    fn part(&self, from: u32, to: usize) -> &str {
        self.text.get(from as usize..to).unwrap_or("")
    }

    pub fn uri(&self) -> &str {
        self.part(0, self.call_id_at as usize)
    }

    pub fn call_id(&self) -> &str {
        self.part(self.call_id_at, self.source_at as usize)
    }

    /// "address:port" the REGISTER came from ("" when read from the store without one).
    pub fn source(&self) -> &str {
        self.part(self.source_at, self.instance_at as usize)
    }

    pub fn instance(&self) -> Option<&str> {
        Some(self.part(self.instance_at, self.text.len())).filter(|instance| !instance.is_empty())
    }

    /// Heap bytes (see `footprint`).
    pub fn heap_bytes(&self) -> usize {
        super::footprint::allocation(self.text.len())
    }
}

impl fmt::Debug for DeviceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceText")
            .field("uri", &self.uri())
            .field("call_id", &self.call_id())
            .field("source", &self.source())
            .field("instance", &self.instance())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_reads_back_as_given() {
        let text = DeviceText::new("sip:101@10.0.0.5:5060", "a84b4c76e66710", "10.0.0.5:5060", Some("urn:uuid:1"));
        assert_eq!(text.uri(), "sip:101@10.0.0.5:5060");
        assert_eq!(text.call_id(), "a84b4c76e66710");
        assert_eq!(text.source(), "10.0.0.5:5060");
        assert_eq!(text.instance(), Some("urn:uuid:1"));
        let bare = DeviceText::new("sip:b@h", "", "", None);
        assert_eq!((bare.uri(), bare.call_id(), bare.source(), bare.instance()), ("sip:b@h", "", "", None));
        assert_eq!(DeviceText::new("sip:b@h", "", "", Some("")).instance(), None);
        assert_eq!(DeviceText::default().uri(), "");
    }

    #[test]
    fn multibyte_text_keeps_its_boundaries() {
        let text = DeviceText::new("sip:é@h", "ü-1", "[::1]:5060", None);
        assert_eq!((text.uri(), text.call_id(), text.source()), ("sip:é@h", "ü-1", "[::1]:5060"));
    }

    #[test]
    fn one_allocation_for_all_four() {
        let text = DeviceText::new("sip:1000-1@127.0.0.1:5070;transport=udp", "g1d1@bench", "127.0.0.1:5070", None);
        assert_eq!(text.heap_bytes(), 80);
        assert!(std::mem::size_of::<DeviceText>() <= 32);
    }
}
