//! The one shared copy of device text the books hold (User-Agents, transports, classification
//! reasons) and of the profiles made of them: see `policy::interner` and `policy::profiles`.
use std::sync::Arc;

use once_cell::sync::Lazy;

use crate::policy::classification_memo::ClassificationMemo;
use crate::policy::classify::ClientType;
use crate::policy::device_book::DeviceProfile;
use crate::policy::interner::Interner;
use crate::policy::profiles::Profiles;

/// 8 shards of 512: far more distinct User-Agents and reasons than a PBX has.
static TEXTS: Lazy<Interner> = Lazy::new(|| Interner::new(512));
static PROFILES: Lazy<Profiles> = Lazy::new(|| Profiles::new(512));
/// 8 shards of 128 (rules × transport × User-Agent): a PBX's devices repeat a handful.
static CLASSIFIED: Lazy<ClassificationMemo> = Lazy::new(|| ClassificationMemo::new(128));

/// A classification the rules `rules` made before for this transport and User-Agent.
pub fn classified(rules: u64, transport: &str, user_agent: &str) -> Option<(ClientType, Arc<DeviceProfile>)> {
    CLASSIFIED.get(rules, transport, user_agent)
}

/// Remembers a classification that depended on the rules, transport and User-Agent only.
pub fn remember_classified(rules: u64, client_type: ClientType, profile: &Arc<DeviceProfile>) {
    CLASSIFIED.remember(rules, client_type, profile);
}

pub fn intern(text: &str) -> Arc<str> {
    TEXTS.intern(text)
}

/// The shared profile of a device classified for `reason`, from shared User-Agent and transport.
pub fn profile(reason: &str, user_agent: &Arc<str>, transport: &Arc<str>) -> Arc<DeviceProfile> {
    PROFILES.intern(&intern(reason), user_agent, transport)
}

/// After a reload dropped books: copies no device holds any more go (profiles first: they hold
/// text).
pub fn release_unused() {
    // The memo holds profiles (and names rules a reload may have replaced).
    CLASSIFIED.clear();
    PROFILES.release_unused();
    TEXTS.release_unused();
}

/// Module unload: the static outlives nothing, so its tables are emptied.
pub fn forget() {
    CLASSIFIED.clear();
    PROFILES.clear();
    TEXTS.clear();
}

pub fn heap_bytes() -> usize {
    PROFILES.heap_bytes() + TEXTS.heap_bytes() + CLASSIFIED.heap_bytes()
}
