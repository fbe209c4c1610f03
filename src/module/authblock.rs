//! Mistyped passwords: failed authentications against a policy's primary or secondary are
//! counted per source (IPv4 address or IPv6 network) and extension; over the section's limit the
//! source is refused for that extension's accounts for a while.
//!
//! Only proof counts: a failure is counted only when its nonce is one Asterisk sent to that very
//! address within the nonce lifetime (the guard notes every 401 it sees leave), so a sender
//! who never received our challenge (a spoofed source) cannot get anyone blocked.
//!
//! Everything lives here, beside the module's other state: one bounded table for the whole
//! module, settings computed at reload, and an atomic count of blocks so the check before
//! authentication takes no lock while nothing is blocked.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;

use crate::asterisk::{manager, pjsip};
use crate::policy::authblock::{BlockSettings, BlockTable, ChallengeLog, SectionId, CHALLENGE_FRESHNESS, MAX_CHALLENGES};
use crate::policy::config::MultiregConfig;
use crate::policy::fast_hash::shard_index;

/// One type=multireg section as the table knows it.
struct Section {
    extension: String,
    /// None once the section is gone (its number is never reused).
    settings: Option<BlockSettings>,
}

#[derive(Default)]
struct Blocks {
    table: BlockTable,
    sections: Vec<Section>,
    /// Section name → number (numbers are never reused).
    ids: HashMap<String, SectionId>,
    /// Primary and secondary endpoint names → their section's number.
    accounts: HashMap<String, SectionId>,
}

/// The section an account belongs to, with its settings, while blocking is on for it.
fn section_of<'a>(
    accounts: &HashMap<String, SectionId>,
    sections: &'a [Section],
    account: &str,
) -> Option<(SectionId, &'a Section, &'a BlockSettings)> {
    let id = *accounts.get(account)?;
    let section = sections.get(id as usize)?;
    Some((id, section, section.settings.as_ref().filter(|settings| settings.enabled())?))
}

impl Blocks {
    fn publish(&self) {
        ACTIVE_BLOCKS.store(self.table.active_blocks(), Ordering::Release);
        TRACKED.store(self.table.len(), Ordering::Release);
    }
}

static BLOCKS: Lazy<Mutex<Blocks>> = Lazy::new(|| Mutex::new(Blocks::default()));
/// Every 401 records its nonce: sharded by destination address so that concurrent challenges
/// rarely wait on one lock; each shard holds its part of the bound.
const CHALLENGE_SHARDS: usize = 16;
static CHALLENGES: Lazy<[Mutex<ChallengeLog>; CHALLENGE_SHARDS]> =
    Lazy::new(|| std::array::from_fn(|_| Mutex::new(challenge_shard())));

fn challenge_shard() -> ChallengeLog {
    ChallengeLog::new(MAX_CHALLENGES / CHALLENGE_SHARDS, CHALLENGE_FRESHNESS)
}
/// Blocks held (expired ones included until swept): zero means the guard has nothing to check.
static ACTIVE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
/// Entries held: zero means a successful authentication has nothing to forgive.
static TRACKED: AtomicUsize = AtomicUsize::new(0);

fn blocks() -> MutexGuard<'static, Blocks> {
    BLOCKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The shard holding the challenges sent to `address`.
fn challenges(address: IpAddr) -> MutexGuard<'static, ChallengeLog> {
    CHALLENGES[shard_index(&address.to_canonical(), CHALLENGE_SHARDS)].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Forgets everything (module load after an unload of the same mapped image).
pub fn reset() {
    *blocks() = Blocks::default();
    for shard in CHALLENGES.iter() {
        *shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = challenge_shard();
    }
    ACTIVE_BLOCKS.store(0, Ordering::Release);
    TRACKED.store(0, Ordering::Release);
}

/// Applies the sections of a (re)load: new thresholds, accounts and exempt networks take effect
/// now, and blocks of removed sections, of sections with blocking off, and of sources that are
/// now exempt are lifted at once.
pub fn configure<'a>(configs: impl IntoIterator<Item = &'a MultiregConfig>) {
    let mut blocks = blocks();
    let mut accounts = HashMap::new();
    for section in &mut blocks.sections {
        section.settings = None;
    }
    for config in configs {
        let id = match blocks.ids.get(&config.section) {
            Some(&id) => id,
            None => {
                let id = blocks.sections.len() as SectionId;
                blocks.sections.push(Section { extension: String::new(), settings: None });
                blocks.ids.insert(config.section.clone(), id);
                id
            }
        };
        let section = &mut blocks.sections[id as usize];
        section.extension = config.endpoint.clone();
        section.settings = Some(config.block_settings());
        accounts.insert(config.endpoint.clone(), id);
        if let Some(secondary) = config.secondary_endpoint() {
            accounts.insert(secondary, id);
        }
    }
    blocks.accounts = accounts;
    let Blocks { table, sections, .. } = &mut *blocks;
    let lifted = table.retain(
        |source, id, _| match sections.get(id as usize).and_then(|s| s.settings.as_ref()) {
            Some(settings) => settings.enabled() && !settings.exempt.iter().any(|cidr| source.within(cidr)),
            None => false,
        },
        Instant::now(),
    );
    blocks.publish();
    if lifted > 0 {
        tracing::info!("multireg: reload lifted {lifted} authentication blocks no longer covered by the configuration");
    }
}

/// Asterisk sent a digest challenge with `nonce` to `address`.
pub fn challenge_sent(address: IpAddr, nonce: &[u8]) {
    challenges(address).record(address, nonce, Instant::now());
}

/// Asterisk reported a failed authentication of `account` from `address`, answering `nonce`.
pub fn record_failure(account: &str, address: IpAddr, nonce: &str) {
    let now = Instant::now();
    let event = {
        let mut blocks = blocks();
        let Blocks { table, sections, accounts, .. } = &mut *blocks;
        let Some((id, section, settings)) = section_of(accounts, sections, account) else { return };
        // Checked after the cheap lookups, so failures of other endpoints never take this lock.
        if !challenges(address).proves(address, nonce, now) {
            tracing::debug!(
                "multireg: failed authentication for {account} from {address} not counted: its nonce is not one Asterisk sent there in the last 32 s"
            );
            return;
        }
        let event = table.record_failure(address, id, settings, now).map(|event| (event, section.extension.clone()));
        blocks.publish();
        event
    };
    let Some((event, extension)) = event else { return };
    tracing::warn!(
        "multireg: blocking {} for {} s after {} failed authentications for {account} (extension {extension}); other endpoints from that address are not affected",
        event.source,
        event.block_time.as_secs(),
        event.failures,
    );
    manager::event(
        "MultiregAddressBlocked",
        &[
            ("Address", event.source.to_string()),
            ("Extension", extension),
            ("Account", account.to_string()),
            ("Failures", event.failures.to_string()),
            ("BlockSeconds", event.block_time.as_secs().to_string()),
        ],
    );
}

/// Whether any address has failures counted (a success then has something to forgive).
pub fn tracks_failures() -> bool {
    TRACKED.load(Ordering::Acquire) != 0
}

/// A successful authentication forgives the source's failures for that extension.
pub fn record_success(account: &str, address: IpAddr) {
    if !tracks_failures() {
        return;
    }
    let mut blocks = blocks();
    let Blocks { table, sections, accounts, .. } = &mut *blocks;
    let Some((id, _, settings)) = section_of(accounts, sections, account) else { return };
    table.record_success(address, id, settings);
    blocks.publish();
}

/// Called before authentication for every request: refuses a blocked source's requests for the
/// accounts its block protects (the policy's primary and secondary). Requests for any other
/// endpoint from that address, trunks matched by `identify` included, pass.
pub fn refuse_if_blocked(request: &pjsip::RxRequest<'_>) -> bool {
    if ACTIVE_BLOCKS.load(Ordering::Acquire) == 0 {
        return false;
    }
    let Some(address) = request.source_address().map(|source| source.ip()) else { return false };
    let Some(endpoint) = request.endpoint() else { return false };
    let account = endpoint.id();
    let blocked = {
        let mut blocks = blocks();
        let now = Instant::now();
        let Blocks { table, sections, accounts, .. } = &mut *blocks;
        table.sweep(now);
        let blocked = match section_of(accounts, sections, account) {
            Some((id, _, settings)) => table.is_blocked(address, id, settings, now),
            None => false,
        };
        blocks.publish();
        blocked
    };
    if !blocked {
        return false;
    }
    // An ACK cannot be answered; dropping it is all a blocked source gets.
    if request.method() != "ACK" {
        request.respond(403, "Forbidden - address blocked after repeated authentication failures");
    }
    true
}

/// One block as the CLI and AMI show it.
pub struct BlockView {
    pub address: String,
    pub extension: String,
    pub remaining: Duration,
    pub failures: u32,
}

/// Every active block, by address then extension.
pub fn blocked() -> Vec<BlockView> {
    let blocks = blocks();
    let mut list: Vec<_> = blocks
        .table
        .blocked(Instant::now())
        .into_iter()
        .map(|b| {
            let section = blocks.sections.get(b.section as usize);
            (
                b.source,
                BlockView {
                    address: b.source.to_string(),
                    extension: section.map(|s| s.extension.clone()).unwrap_or_default(),
                    remaining: b.remaining,
                    failures: b.failures,
                },
            )
        })
        .collect();
    list.sort_by(|a, b| (a.0, &a.1.extension).cmp(&(b.0, &b.1.extension)));
    list.into_iter().map(|(_, view)| view).collect()
}

/// Lifts the blocks (and forgets the counts) of the source covering `address`, or all; returns
/// how many blocks were lifted.
pub fn clear(address: Option<IpAddr>) -> usize {
    let mut blocks = blocks();
    let lifted = blocks.table.clear(address, Instant::now());
    blocks.publish();
    lifted
}
