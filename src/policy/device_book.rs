//! The devices of one AOR as the module counts them, and the decision on each REGISTER.
//!
//! A device is what the registrar stores: one binding, named by its Contact URI exactly as pjsip
//! printed it. The book adds and refreshes bindings from the registrar's own answers (its 200 OK
//! lists every binding of the AOR with the seconds left) and learns removals from the location
//! store (a removal notice makes it read the store again). It never reads the wire itself, so it
//! cannot disagree with the registrar about what a REGISTER does. It may count a removed device
//! for a moment, never miss a stored one: every refusal is checked against the store first.
//!
//! Rules of the decision, in the registrar's order:
//! - `Contact: *` and bindings with expiry 0 remove; they are always admitted.
//! - A binding whose URI matches a registered one is a refresh: it never counts twice. If its
//!   client type changed, it needs room in the new type.
//! - A new binding that carries the `+sip.instance` of a registered device, or whose REGISTER has
//!   that device's Call-ID, is the same device at a new address: its old bindings are removed, so
//!   the stored count never exceeds a limit.
//! - Every other new binding needs a free slot of its type (and under the total cap, if any); at
//!   the limit, `reject` refuses the whole REGISTER and `replace_oldest` removes the longest
//!   registered device(s) of that type.
//! - Bindings admitted but not yet answered by the registrar are reserved, so concurrent
//!   REGISTERs cannot overshoot; a reservation ends with the registrar's answer (or after
//!   `RESERVATION_SECONDS`).
use std::net::SocketAddr;
use std::sync::Arc;

use crate::policy::classify::ClientType;
use crate::policy::contact_uri::UriHead;
use crate::policy::limits::{AtLimit, TypeLimits};

/// A short list kept on the stack up to N items (the decision's working lists: a REGISTER carries
/// one Contact or a few, a book a handful of devices), on the heap beyond.
type Few<T, const N: usize> = smallvec::SmallVec<[T; N]>;

/// How long an admitted binding holds its slot when no answer from the registrar is seen.
pub const RESERVATION_SECONDS: u64 = 32;

/// One REGISTER transaction: its Call-ID and CSeq number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestKey {
    /// Shared: the decision keeps it in the reservation and the awaited-answer table, a clone each.
    pub call_id: std::sync::Arc<str>,
    pub cseq: u32,
}

/// What many devices have in common: why a device got its client type (for `multireg show
/// extension`), its User-Agent and its transport. The module keeps one shared copy per
/// combination, so a device holds a single pointer to it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DeviceProfile {
    pub reason: Arc<str>,
    pub user_agent: Arc<str>,
    pub transport: Arc<str>,
}

impl DeviceProfile {
    /// An unshared profile (tests, and devices the book never saw registering).
    pub fn new(reason: &str, user_agent: &str, transport: &str) -> Arc<DeviceProfile> {
        Arc::new(DeviceProfile { reason: reason.into(), user_agent: user_agent.into(), transport: transport.into() })
    }
}

/// A registered device (one binding of the AOR) and what the module learned about it. Kept
/// small (one per registered contact): text in exact-size boxes, the address inline, what
/// devices share behind one pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub uri: Box<str>,
    /// `UriHead::of(uri)`, read once: the decision weighs every device against each binding.
    pub uri_head: UriHead,
    pub call_id: Box<str>,
    /// `+sip.instance`, normalised (see `normalize_instance`).
    pub instance: Option<Box<str>>,
    /// Address and port the REGISTER came from (None: read from the store, which keeps only
    /// what the device wrote in its Via, and that is not always an address).
    pub source: Option<SocketAddr>,
    pub profile: Arc<DeviceProfile>,
    /// CSeq of the last REGISTER of `call_id` the registrar confirmed for it (0: read from the
    /// store), so an answer to an older REGISTER of the same device never undoes a newer one.
    pub cseq: u32,
    pub client_type: ClientType,
    /// First registration (unix seconds); refreshes keep it.
    pub registered_at: u64,
    pub expires_at: u64,
}

/// One Contact of a REGISTER, as pjsip parsed it and the registrar will apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub uri: String,
    /// `UriHead::of(uri)` once something asked (`head`): a refresh, which matches its device's
    /// URI exactly, never needs it.
    pub head_read: std::cell::OnceCell<UriHead>,
    /// The registrar's expiry for it is 0: it removes the binding.
    pub removes: bool,
    pub instance: Option<String>,
    pub client_type: ClientType,
    /// Why it got its type, with the REGISTER's User-Agent and transport.
    pub profile: Arc<DeviceProfile>,
}

impl Binding {
    pub fn head(&self) -> UriHead {
        *self.head_read.get_or_init(|| UriHead::of(&self.uri))
    }
}

/// What the module read from one REGISTER of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub key: RequestKey,
    /// `Contact: *`.
    pub star: bool,
    /// Each with its profile, which carries the REGISTER's User-Agent and transport.
    pub contacts: Vec<Binding>,
    pub source: Option<SocketAddr>,
    /// Expiry the device asked for (only used for how long a reservation lasts).
    pub expires: u32,
}

/// The limits that apply to one AOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_type: TypeLimits,
    /// All types together (the secondary's AOR: `secondary_max_devices`).
    pub total: Option<u32>,
    pub at_limit: AtLimit,
}

/// Why a registered device is removed before the registrar runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalCause {
    /// The same device (instance or Call-ID) registered at a new address.
    Moved,
    /// `replace_oldest` made room for a new device of this type.
    Replaced(ClientType),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub device: Device,
    pub cause: RemovalCause,
}

/// Why a REGISTER is refused: the SIP answer, and the client type whose limit it hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
    pub client_type: ClientType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the REGISTER on to the registrar after removing these devices from the store.
    Admit { removals: Vec<Removal> },
    /// Answer with its status and reason; nothing changes.
    Refuse(Refusal),
    /// The answer would refuse or remove devices, and the book has not been checked against the
    /// store recently: read the store (`load_from_store`) and decide again.
    Confirm,
}

#[derive(Debug, Clone)]
struct Reservation {
    key: RequestKey,
    devices: Vec<Device>,
    /// Bindings the REGISTER removes (Expires 0), not `Contact: *`.
    removes: Vec<String>,
    until: u64,
    /// The store's removal of one of `removes` took its device out of the book before this
    /// REGISTER's answer (`on_removed`): if the answer fails or never comes, the book may miss a
    /// contact added back meanwhile, and must be read again.
    removed_early: bool,
}

/// The devices of one AOR.
#[derive(Debug, Clone, Default)]
pub struct DeviceBook {
    devices: Vec<Device>,
    reservations: Vec<Reservation>,
    /// When the book was last read from the store (unix seconds); None = never, so unknown.
    loaded_at: Option<u64>,
    /// Counts every change learned from outside (answers, removals, store reads), so a store
    /// read that raced with one of them is never taken as the truth.
    generation: u64,
}

impl Device {
    /// Heap bytes its text takes (see `footprint`).
    pub fn heap_bytes(&self) -> usize {
        use super::footprint::allocation;
        // The profile is counted with the interner that holds it (the few copies it hands out
        // unshared when full are not counted).
        allocation(self.uri.len()) + allocation(self.call_id.len()) + self.instance.as_ref().map_or(0, |i| allocation(i.len()))
    }

    pub fn reason(&self) -> &str {
        &self.profile.reason
    }

    pub fn user_agent(&self) -> &str {
        &self.profile.user_agent
    }

    pub fn transport(&self) -> &str {
        &self.profile.transport
    }

    /// "address:port" it registered from ("[v6]:port"), or "" when unknown.
    pub fn source_text(&self) -> String {
        self.source.map(|source| source.to_string()).unwrap_or_default()
    }
}

/// `+sip.instance` values compare without quotes and angle brackets, case-insensitively.
pub fn normalize_instance(value: &str) -> Option<String> {
    // All quotes, angle brackets and blanks around the value, in any order (fuzz target `names`:
    // `" <urn:...>"` kept its '<' after one pass, so the same device compared unequal).
    let value = value.trim_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>'));
    (!value.is_empty()).then(|| value.to_ascii_lowercase())
}

/// One slot in use while deciding: a stored device, another request's reservation, or a
/// binding this REGISTER adds.
#[derive(Clone, Copy)]
struct Slot<'b> {
    uri: &'b str,
    uri_head: UriHead,
    client_type: ClientType,
    registered_at: u64,
    call_id: &'b str,
    instance: Option<&'b str>,
    /// In the store now, so it can be removed to make room.
    stored: bool,
}

impl<'b> Slot<'b> {
    fn of(device: &'b Device, stored: bool) -> Slot<'b> {
        Slot {
            uri: &device.uri,
            uri_head: device.uri_head,
            client_type: device.client_type,
            registered_at: device.registered_at,
            call_id: &device.call_id,
            instance: device.instance.as_deref(),
            stored,
        }
    }
}

impl DeviceBook {
    /// Whether the book knows the AOR at all (it must be read from the store first).
    pub fn is_known(&self) -> bool {
        self.loaded_at.is_some()
    }

    /// Known to hold no device and no REGISTER in flight: the store has no contact of this AOR
    /// that came through the registrar (permanent contacts from the configuration are not here).
    pub fn is_known_empty(&self, now: u64) -> bool {
        self.is_known() && !self.devices.iter().any(|d| d.expires_at > now) && !self.awaits_answer(now)
    }

    /// A REGISTER it admitted is still waiting for the registrar's answer (its binding may be
    /// stored already).
    pub fn awaits_answer(&self, now: u64) -> bool {
        self.reservations.iter().any(|r| r.until > now)
    }

    /// Marks the book as possibly wrong (a contact was removed behind the registrar's back).
    pub fn forget(&mut self) {
        self.loaded_at = None;
        self.generation += 1;
    }

    /// Devices the book holds (expired ones too, until they are dropped; not reservations).
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Heap bytes the book's own vectors and text take (see `footprint`).
    pub fn heap_bytes(&self) -> usize {
        use super::footprint::{shared_str, string, vec};
        let reservations: usize = self
            .reservations
            .iter()
            .map(|r| {
                shared_str(&r.key.call_id)
                    + vec(&r.devices)
                    + r.devices.iter().map(Device::heap_bytes).sum::<usize>()
                    + vec(&r.removes)
                    + r.removes.iter().map(string).sum::<usize>()
            })
            .sum();
        vec(&self.devices) + self.devices.iter().map(Device::heap_bytes).sum::<usize>() + vec(&self.reservations) + reservations
    }

    /// Take this before reading the store, and give it to `load_from_store`.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Registered devices now (not reservations), oldest first.
    pub fn devices(&self, now: u64) -> Vec<&Device> {
        let mut devices: Vec<&Device> = self.devices.iter().filter(|d| d.expires_at > now).collect();
        devices.sort_by(|a, b| (a.registered_at, &a.uri).cmp(&(b.registered_at, &b.uri)));
        devices
    }

    pub fn device(&self, uri: &str) -> Option<&Device> {
        self.devices.iter().find(|d| &*d.uri == uri)
    }

    /// Live devices per type (reservations included), for the views.
    pub fn count(&self, client_type: ClientType, now: u64) -> usize {
        self.slots(now, None).iter().filter(|s| s.client_type == client_type).count()
    }

    /// Replaces the devices with what the store holds; what the book knew about a device that is
    /// still stored (its type, first registration, source) is kept. `read_at` is `generation()`
    /// from before the store was read: if an answer or a removal arrived since, the read may
    /// predate it, so nothing is changed and false is returned (read again).
    pub fn load_from_store(&mut self, stored: Vec<Device>, now: u64, read_at: u64) -> bool {
        if read_at != self.generation {
            return false;
        }
        let devices = stored
            .into_iter()
            .map(|fresh| match self.devices.iter().find(|d| d.uri == fresh.uri) {
                Some(known) => Device { expires_at: fresh.expires_at, ..known.clone() },
                None => fresh,
            })
            .collect();
        self.devices = devices;
        self.loaded_at = Some(now);
        self.generation += 1;
        self.reservations.retain(|r| r.until > now);
        true
    }

    fn slots(&self, now: u64, except: Option<&RequestKey>) -> Few<Slot<'_>, 8> {
        let mut slots: Few<Slot<'_>, 8> = self.devices.iter().filter(|d| d.expires_at > now).map(|d| Slot::of(d, true)).collect();
        for reservation in self.reservations.iter().filter(|r| r.until > now && Some(&r.key) != except) {
            for device in &reservation.devices {
                if !slots.iter().any(|s| s.uri == &*device.uri) {
                    slots.push(Slot::of(device, false));
                }
            }
        }
        slots
    }

    /// Decides one REGISTER. `same_uri` compares two Contact URIs the way the registrar does
    /// (string equality is a safe approximation: it can only see more devices, never fewer).
    /// `confirmed` says the book was just read from the store, so a refusal needs no check.
    pub fn decide(
        &mut self,
        register: &Register,
        limits: &Limits,
        now: u64,
        confirmed: bool,
        same_uri: &dyn Fn(&str, &str) -> bool,
    ) -> Verdict {
        self.drop_lapsed(now);
        if !confirmed && !self.is_known() {
            return Verdict::Confirm;
        }
        let removed = match self.plan(register, limits, now, confirmed, same_uri) {
            Ok(removed) => removed,
            Err(verdict) => return verdict,
        };
        let removals: Vec<Removal> = removed
            .into_iter()
            .filter_map(|(uri, cause)| self.device(&uri).cloned().map(|device| Removal { device, cause }))
            .collect();
        let admitted: Vec<Device> = if register.star {
            Vec::new()
        } else {
            let mut admitted: Vec<Device> = Vec::new();
            for binding in register.contacts.iter().filter(|b| !b.removes) {
                if !admitted.iter().any(|d| same(d.uri_head, &d.uri, binding, same_uri)) {
                    admitted.push(self.device_from(register, binding, now));
                }
            }
            admitted
        };
        self.devices.retain(|d| !removals.iter().any(|r| r.device.uri == d.uri));
        self.reserve(register, admitted, now);
        Verdict::Admit { removals }
    }

    /// The devices to remove before the registrar runs, or the verdict that ends the decision.
    fn plan(
        &self,
        register: &Register,
        limits: &Limits,
        now: u64,
        confirmed: bool,
        same_uri: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Few<(String, RemovalCause), 2>, Verdict> {
        if register.star {
            return Ok(Few::new());
        }
        let mut live = self.slots(now, Some(&register.key));
        for binding in register.contacts.iter().filter(|b| b.removes) {
            live.retain(|s| !same(s.uri_head, s.uri, binding, same_uri));
        }
        let mut adds: Few<&Binding, 4> = Few::new();
        for binding in register.contacts.iter().filter(|b| !b.removes) {
            if !adds.iter().any(|a| same(a.head(), &a.uri, binding, same_uri)) {
                adds.push(binding);
            }
        }
        // Refreshes keep their slot unless the type changed; every other binding is a newcomer.
        let mut refreshed: Few<&str, 4> = Few::new();
        let mut newcomers: Few<&Binding, 4> = Few::new();
        for binding in &adds {
            // A refresh prints its URI as it did before: exact text first, the registrar's
            // comparison (which parses) only for what text alone cannot tell.
            let exact = live.iter().position(|s| s.uri == binding.uri);
            match exact.or_else(|| live.iter().position(|s| same(s.uri_head, s.uri, binding, same_uri))) {
                Some(index) if live[index].client_type == binding.client_type => refreshed.push(live[index].uri),
                Some(index) => {
                    live.remove(index);
                    newcomers.push(binding);
                }
                None => newcomers.push(binding),
            }
        }
        let mut removed: Few<(String, RemovalCause), 2> = Few::new();
        // A new binding of a registered device (same instance or Call-ID): its old bindings go.
        let arrivals: Few<&Binding, 4> =
            newcomers.iter().copied().filter(|b| !self.devices.iter().any(|d| same(d.uri_head, &d.uri, b, same_uri))).collect();
        if !arrivals.is_empty() {
            // The cheap tests first: the URI comparison may parse.
            let moved = |slot: &Slot<'_>| {
                slot.stored
                    && ((!register.key.call_id.is_empty() && slot.call_id == &*register.key.call_id)
                        || arrivals.iter().any(|b| b.instance.is_some() && b.instance.as_deref() == slot.instance))
                    && !adds.iter().any(|a| same(slot.uri_head, slot.uri, a, same_uri))
            };
            removed.extend(live.iter().filter(|s| moved(s)).map(|s| (s.uri.to_string(), RemovalCause::Moved)));
            live.retain(|s| !moved(s));
        }
        for binding in newcomers {
            let type_limit = limits.per_type.get(binding.client_type);
            loop {
                let of_type = live.iter().filter(|s| s.client_type == binding.client_type).count() as u32;
                let type_full = of_type >= type_limit;
                let total_full = limits.total.is_some_and(|cap| live.len() as u32 >= cap);
                if !type_full && !total_full {
                    break;
                }
                let (limit, what) = if type_full {
                    (type_limit, binding.client_type.display_name())
                } else {
                    (limits.total.unwrap_or(0), "device")
                };
                let victim = live
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.stored && !refreshed.contains(&s.uri))
                    .filter(|(_, s)| !type_full || s.client_type == binding.client_type)
                    .min_by(|(_, a), (_, b)| (a.registered_at, a.uri).cmp(&(b.registered_at, b.uri)))
                    .map(|(index, _)| index)
                    .filter(|_| limits.at_limit == AtLimit::ReplaceOldest && limit > 0);
                if !confirmed {
                    return Err(Verdict::Confirm);
                }
                let Some(index) = victim else {
                    let reason = if limit == 0 {
                        format!("Forbidden - {what} not allowed (limit 0)")
                    } else {
                        format!("Forbidden - {what} limit {limit} reached")
                    };
                    return Err(Verdict::Refuse(Refusal { status: 403, reason, client_type: binding.client_type }));
                };
                let slot = live.remove(index);
                removed.push((slot.uri.to_string(), RemovalCause::Replaced(binding.client_type)));
            }
            live.push(Slot {
                uri: &binding.uri,
                uri_head: binding.head(),
                client_type: binding.client_type,
                registered_at: now,
                call_id: &register.key.call_id,
                instance: binding.instance.as_deref(),
                stored: false,
            });
        }
        Ok(removed)
    }

    fn device_from(&self, register: &Register, binding: &Binding, now: u64) -> Device {
        let known = self.devices.iter().find(|d| *d.uri == *binding.uri);
        Device {
            uri: binding.uri.as_str().into(),
            // A refresh keeps its device's head (same text): nothing to read.
            uri_head: known.map_or_else(|| binding.head(), |d| d.uri_head),
            call_id: (*register.key.call_id).into(),
            instance: binding.instance.as_deref().map(Box::from),
            source: register.source,
            profile: binding.profile.clone(),
            cseq: register.key.cseq,
            client_type: binding.client_type,
            registered_at: known.map(|d| d.registered_at).filter(|t| *t > 0).unwrap_or(now),
            expires_at: now + u64::from(register.expires.max(1)),
        }
    }

    /// Drops the reservations whose answer never came; one that had taken a device out early
    /// leaves the book to be read again.
    fn drop_lapsed(&mut self, now: u64) {
        let mut lost = false;
        self.reservations.retain(|r| {
            let live = r.until > now;
            lost |= !live && r.removed_early;
            live
        });
        if lost {
            self.loaded_at = None;
        }
    }

    fn reserve(&mut self, register: &Register, devices: Vec<Device>, now: u64) {
        self.reservations.retain(|r| r.until > now && r.key != register.key);
        let removes = register.contacts.iter().filter(|b| b.removes && !register.star).map(|b| b.uri.clone()).collect();
        // Room for one more only: a push would make room for four in every book that ever saw
        // a REGISTER, and most have one in flight at a time.
        self.reservations.reserve_exact(1);
        self.reservations.push(Reservation {
            key: register.key.clone(),
            devices,
            removes,
            until: now + RESERVATION_SECONDS,
            removed_early: false,
        });
    }

    /// The registrar answered REGISTER `key`. On success `bindings` is its list of (URI, seconds
    /// left) for the whole AOR: every binding in it is added or refreshed. Bindings missing from it
    /// are not removed here (answers to concurrent REGISTERs can arrive in another order than the
    /// registrar handled them, so a missing binding may be one added just after), with one
    /// exception: a binding this REGISTER removed, of a device whose latest confirmed REGISTER
    /// (same Call-ID, CSeq not above this one) it is. Other removals come from the store
    /// (`on_removed`, then a store read), and a stale entry can only make the book count more,
    /// which the store check before any refusal corrects. On failure only the
    /// reservation ends. Returns false when the answer named a binding the book knew nothing
    /// about (it is counted as an IP phone until the store is read again).
    pub fn on_answer(&mut self, key: &RequestKey, success: bool, bindings: &[(&str, u32)], now: u64) -> bool {
        let position = self.reservations.iter().position(|r| &r.key == key);
        let mut reservation = position.map(|i| self.reservations.remove(i));
        if self.reservations.is_empty() {
            // Nothing in flight: an idle book keeps no room for reservations.
            self.reservations = Vec::new();
        }
        self.generation += 1;
        if !success {
            if reservation.is_some_and(|r| r.removed_early) {
                self.loaded_at = None;
            }
            return true;
        }
        let mut complete = true;
        for (uri, seconds_left) in bindings {
            let uri = *uri;
            // The reservation is this answer's own: its devices are taken, not copied.
            let requested = reservation
                .as_mut()
                .and_then(|r| r.devices.iter().position(|d| &*d.uri == uri).map(|i| r.devices.swap_remove(i)));
            let expires_at = now + u64::from(*seconds_left);
            match self.devices.iter_mut().find(|d| &*d.uri == uri) {
                Some(known) => {
                    if let Some(requested) = requested {
                        *known = Device { registered_at: known.registered_at, ..requested };
                    }
                    known.expires_at = expires_at;
                }
                None => {
                    let pending = || self.reservations.iter().flat_map(|r| r.devices.iter()).find(|d| &*d.uri == uri).cloned();
                    let device = match requested.or_else(pending) {
                        Some(device) => device,
                        None => {
                            complete = false;
                            unknown_device(uri, now)
                        }
                    };
                    // Grown one at a time: a book keeps no spare room per AOR.
                    self.devices.reserve_exact(1);
                    self.devices.push(Device { expires_at, ..device });
                }
            }
        }
        // A device that unregistered itself is gone when the answer to its own latest REGISTER no
        // longer lists it. Only then: a binding missing after another device's REGISTER, or
        // after an older REGISTER of this one, may have been added again since (see above).
        for uri in reservation.iter().flat_map(|r| r.removes.iter()) {
            if !bindings.iter().any(|(listed, _)| *listed == uri.as_str()) {
                self.devices.retain(|d| !(&*d.uri == uri.as_str() && *d.call_id == *key.call_id && d.cseq <= key.cseq));
            }
        }
        if !complete {
            self.loaded_at = None;
        }
        complete
    }

    /// The devices the success answer `bindings` to REGISTER `key` will take out of the book
    /// (they unregistered themselves), as `on_answer` decides it; call before `on_answer`.
    pub fn unregistered_by(&self, key: &RequestKey, bindings: &[(&str, u32)]) -> Vec<Device> {
        let Some(reservation) = self.reservations.iter().find(|r| &r.key == key) else { return Vec::new() };
        reservation
            .removes
            .iter()
            .filter(|uri| !bindings.iter().any(|(listed, _)| *listed == uri.as_str()))
            .filter_map(|uri| {
                self.devices.iter().find(|d| &*d.uri == uri.as_str() && *d.call_id == *key.call_id && d.cseq <= key.cseq)
            })
            .cloned()
            .collect()
    }

    /// A contact was removed from the store (expired, unregistered, removed by someone). Returns
    /// true when the book still counted it, so it must be read again from the store.
    ///
    /// One removal is expected: the registrar deletes a device's contact while handling that
    /// device's own unregistering REGISTER, before its answer reaches the book. The device then
    /// simply leaves the book, provided that REGISTER is its latest (same Call-ID, CSeq not
    /// below) and no other REGISTER awaiting its answer adds the URI again.
    pub fn on_removed(&mut self, uri: &str, now: u64) -> bool {
        self.generation += 1;
        let Some(index) = self.devices.iter().position(|d| &*d.uri == uri && d.expires_at > now + 1) else { return false };
        let device = &self.devices[index];
        let own_unregister = self.reservations.iter().position(|r| {
            r.until > now
                && r.removes.iter().any(|removed| removed == uri)
                && *r.key.call_id == *device.call_id
                && device.cseq <= r.key.cseq
        });
        let added_again =
            self.reservations.iter().filter(|r| r.until > now).flat_map(|r| r.devices.iter()).any(|d| &*d.uri == uri);
        if let (Some(reservation), false) = (own_unregister, added_again) {
            self.reservations[reservation].removed_early = true;
            self.devices.remove(index);
            return false;
        }
        self.loaded_at = None;
        true
    }
}

/// Whether a URI the book holds and a REGISTER's binding are the same binding: equal text, or
/// `same_uri` (the registrar's comparison) unless their heads already prove them different.
fn same(head: UriHead, uri: &str, binding: &Binding, same_uri: &dyn Fn(&str, &str) -> bool) -> bool {
    uri == binding.uri || (!head.surely_differs(binding.head()) && same_uri(uri, &binding.uri))
}

/// A binding the registrar reported that the book never saw: counted (as an IP phone, the type
/// with the most room) until the store is read again.
fn unknown_device(uri: &str, now: u64) -> Device {
    Device {
        uri: uri.into(),
        uri_head: UriHead::of(uri),
        call_id: "".into(),
        instance: None,
        source: None,
        profile: DeviceProfile::new("not seen registering by this module; read from the registrar's answer", "", ""),
        cseq: 0,
        client_type: ClientType::IpPhone,
        registered_at: now,
        expires_at: now,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instances_compare_whatever_wraps_them() {
        use super::normalize_instance;
        let plain = Some("urn:uuid:abc".to_string());
        for wrapped in ["\"<urn:uuid:ABC>\"", "<urn:uuid:abc>", "\" <urn:uuid:abc>\"", "< \"urn:uuid:abc\" >", "urn:uuid:abc"] {
            assert_eq!(normalize_instance(wrapped), plain, "{wrapped}");
        }
        assert_eq!(normalize_instance("\"<>\""), None);
    }

    use super::*;
    use ClientType::*;

    const NOW: u64 = 10_000;

    fn exact(a: &str, b: &str) -> bool {
        a == b
    }

    fn limits(ip_phone: u32, web: u32, at_limit: AtLimit) -> Limits {
        Limits { per_type: TypeLimits { ip_phone, web, desktop: 1, mobile: 1 }, total: None, at_limit }
    }

    fn binding(uri: &str, client_type: ClientType) -> Binding {
        Binding {
            uri: uri.into(),
            head_read: Default::default(),
            removes: false,
            instance: None,
            client_type,
            profile: DeviceProfile::new("test", "UA", "UDP"),
        }
    }

    fn register(call_id: &str, cseq: u32, contacts: Vec<Binding>) -> Register {
        Register {
            key: RequestKey { call_id: call_id.into(), cseq },
            star: false,
            contacts,
            source: "127.0.0.1:5060".parse().ok(),
            expires: 600,
        }
    }

    /// Admits a REGISTER and applies the registrar's success answer, as the module does.
    fn registered(book: &mut DeviceBook, request: Register, limits: &Limits) {
        let verdict = book.decide(&request, limits, NOW, true, &exact);
        assert!(matches!(verdict, Verdict::Admit { .. }), "{verdict:?}");
        let mut bindings: Vec<(String, u32)> = book.devices(NOW).iter().map(|d| (d.uri.to_string(), 500)).collect();
        for b in request.contacts.iter().filter(|b| !b.removes) {
            if !bindings.iter().any(|(u, _)| u == &b.uri) {
                bindings.push((b.uri.clone(), 600));
            }
        }
        let removed: Vec<&str> = request.contacts.iter().filter(|b| b.removes).map(|b| b.uri.as_str()).collect();
        bindings.retain(|(u, _)| !removed.contains(&u.as_str()));
        let bindings: Vec<(&str, u32)> = bindings.iter().map(|(uri, seconds)| (uri.as_str(), *seconds)).collect();
        assert!(book.on_answer(&request.key, true, &bindings, NOW));
    }

    fn uris(book: &DeviceBook) -> Vec<String> {
        book.devices(NOW).iter().map(|d| d.uri.to_string()).collect()
    }

    fn refused(verdict: Verdict) -> String {
        match verdict {
            Verdict::Refuse(Refusal { status: 403, reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn loaded() -> DeviceBook {
        let mut book = DeviceBook::default();
        assert!(book.load_from_store(Vec::new(), NOW, 0));
        book
    }

    #[test]
    fn admits_below_the_limit_and_refuses_at_it_after_checking_the_store() {
        let lim = limits(2, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        registered(&mut book, register("b", 1, vec![binding("sip:b@h", IpPhone)]), &lim);
        let third = register("c", 1, vec![binding("sip:c@h", IpPhone)]);
        assert_eq!(book.decide(&third, &lim, NOW, false, &exact), Verdict::Confirm);
        assert_eq!(refused(book.decide(&third, &lim, NOW, true, &exact)), "Forbidden - IP phone limit 2 reached");
        // A web client still has room.
        assert!(matches!(
            book.decide(&register("w", 1, vec![binding("sip:w@h;transport=ws", Web)]), &lim, NOW, false, &exact),
            Verdict::Admit { .. }
        ));
    }

    #[test]
    fn known_empty_only_when_read_and_nothing_registered_or_in_flight() {
        let lim = limits(1, 1, AtLimit::Reject);
        assert!(!DeviceBook::default().is_known_empty(NOW), "never read: unknown");
        let mut book = loaded();
        assert!(book.is_known_empty(NOW));
        let request = register("a", 1, vec![binding("sip:a@h", IpPhone)]);
        assert!(matches!(book.decide(&request, &lim, NOW, true, &exact), Verdict::Admit { .. }));
        assert!(!book.is_known_empty(NOW), "a REGISTER awaiting its answer may already be stored");
        assert!(book.on_answer(&request.key, true, &[("sip:a@h", 600)], NOW));
        assert!(!book.is_known_empty(NOW));
        assert!(book.is_known_empty(NOW + 601), "its binding expired");
        book.forget();
        assert!(!book.is_known_empty(NOW + 601));
    }

    #[test]
    fn a_book_keeps_no_room_for_reservations_once_answered() {
        // Five desk phones with Call-IDs as phones make them: the book holds their structs and
        // text, and nothing for REGISTERs no longer in flight (a pushed-to vector kept room for
        // four reservations per book: about 80 bytes per device).
        let mut book = loaded();
        let phones = 5;
        for n in 0..phones {
            let mut request = register(
                &format!("0_277638033{n}@192.168.1.2{n}"),
                1,
                vec![binding(&format!("sip:101-phone{n}@192.168.1.2{n}:5060;transport=udp"), IpPhone)],
            );
            request.source = format!("192.168.1.2{n}:5060").parse().ok();
            registered(&mut book, request, &limits(phones, 1, AtLimit::Reject));
        }
        assert_eq!(book.reservations.capacity(), 0);
        let structs_and_text: usize = book.devices.iter().map(|d| std::mem::size_of::<Device>() + d.heap_bytes()).sum();
        assert!(book.heap_bytes() <= structs_and_text + 16, "{} bytes for {structs_and_text}", book.heap_bytes());
    }

    #[test]
    fn a_device_costs_its_struct_and_two_exact_allocations() {
        // One per registered contact: 200 bytes per device is the budget (issue 8). The struct
        // holds the address inline and the shared profile behind one pointer; the URI and
        // Call-ID are boxes of exactly their length (a String would also keep its capacity).
        // The URI's head digest (8 bytes) saves re-reading every device's URI at each decision.
        assert!(std::mem::size_of::<Device>() <= 120, "Device grew to {} bytes", std::mem::size_of::<Device>());
        let mut book = loaded();
        let mut request =
            register("0_2776380331@192.168.1.21", 1, vec![binding("sip:101-phone1@192.168.1.21:5060;transport=udp", IpPhone)]);
        request.source = "192.168.1.21:5060".parse().ok();
        registered(&mut book, request, &limits(1, 1, AtLimit::Reject));
        let device = &book.devices[0];
        assert_eq!(device.heap_bytes(), 64 + 48, "URI (46 bytes) and Call-ID (25) in their own exact allocations");
        assert_eq!(device.source_text(), "192.168.1.21:5060");
        assert_eq!((device.user_agent(), device.transport(), device.reason()), ("UA", "UDP", "test"));
    }

    /// Phones a and b registered (limit 2), and a's unregister admitted, awaiting its answer.
    fn phone_a_unregistering_beside_b() -> (DeviceBook, Register, Limits) {
        let lim = limits(2, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        registered(&mut book, register("b", 1, vec![binding("sip:b@h", IpPhone)]), &lim);
        let bye = unregister("a", 2, "sip:a@h");
        assert!(matches!(book.decide(&bye, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        (book, bye, lim)
    }

    fn unregister(call_id: &str, cseq: u32, uri: &str) -> Register {
        let mut request = register(call_id, cseq, vec![binding(uri, IpPhone)]);
        request.contacts[0].removes = true;
        request
    }

    #[test]
    fn a_device_unregistering_itself_leaves_the_book_known_and_without_it() {
        let (mut book, bye, lim) = phone_a_unregistering_beside_b();
        let leaving = book.unregistered_by(&bye.key, &[("sip:b@h", 500)]);
        assert_eq!(leaving.iter().map(|d| &*d.uri).collect::<Vec<_>>(), ["sip:a@h"]);
        assert!(book.on_answer(&bye.key, true, &[("sip:b@h", 500)], NOW));
        assert_eq!(uris(&book), ["sip:b@h"]);
        assert!(!book.on_removed("sip:a@h", NOW), "the store's removal is already known");
        assert!(book.is_known(), "no store read needed");
        // The freed slot is usable without asking the store.
        let c = register("c", 1, vec![binding("sip:c@h", IpPhone)]);
        assert!(matches!(book.decide(&c, &lim, NOW, false, &exact), Verdict::Admit { .. }));
    }

    #[test]
    fn an_older_unregister_answered_late_never_removes_a_newer_registration() {
        let lim = limits(2, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        let bye = unregister("a", 2, "sip:a@h");
        assert!(matches!(book.decide(&bye, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        // The device registers again (CSeq 3) and that answer is handled first.
        registered(&mut book, register("a", 3, vec![binding("sip:a@h", IpPhone)]), &lim);
        assert!(book.on_answer(&bye.key, true, &[], NOW));
        assert_eq!(uris(&book), ["sip:a@h"], "kept: the newer REGISTER may have re-added it");
        // Another device's REGISTER cannot remove it either.
        let other = unregister("z", 9, "sip:a@h");
        assert!(matches!(book.decide(&other, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        assert!(book.on_answer(&other.key, true, &[], NOW));
        assert_eq!(uris(&book), ["sip:a@h"]);
    }

    #[test]
    fn a_refresh_never_counts_twice() {
        let lim = limits(1, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        for cseq in 2..5 {
            registered(&mut book, register("a", cseq, vec![binding("sip:a@h", IpPhone)]), &lim);
        }
        // Even with a new Call-ID (the phone rebooted), the same Contact is the same binding.
        registered(&mut book, register("rebooted", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        assert_eq!(uris(&book), ["sip:a@h"]);
    }

    #[test]
    fn every_contact_of_one_register_counts() {
        let lim = limits(2, 1, AtLimit::Reject);
        let mut book = loaded();
        let three = register("x", 1, vec![binding("sip:1@h", IpPhone), binding("sip:2@h", IpPhone), binding("sip:3@h", IpPhone)]);
        assert_eq!(refused(book.decide(&three, &lim, NOW, true, &exact)), "Forbidden - IP phone limit 2 reached");
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        // The registered phone refreshing with two more Contacts would hold three.
        let grow = register("a", 2, vec![binding("sip:a@h", IpPhone), binding("sip:b@h", IpPhone), binding("sip:c@h", IpPhone)]);
        assert!(refused(book.decide(&grow, &lim, NOW, true, &exact)).contains("limit 2"));
        assert_eq!(uris(&book), ["sip:a@h"]);
    }

    #[test]
    fn one_host_with_new_uris_and_call_ids_gets_no_extra_slots() {
        let lim = limits(2, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("first", 1, vec![binding("sip:first@127.0.0.9:5060", IpPhone)]), &lim);
        registered(&mut book, register("n1", 1, vec![binding("sip:a@127.0.0.9:5070", IpPhone)]), &lim);
        for (call_id, uri) in [("n2", "sip:b@127.0.0.9:5070"), ("n3", "sip:c@127.0.0.9:5070")] {
            refused(book.decide(&register(call_id, 1, vec![binding(uri, IpPhone)]), &lim, NOW, true, &exact));
        }
        assert_eq!(book.devices(NOW).len(), 2);
    }

    #[test]
    fn a_device_at_a_new_address_replaces_its_old_binding() {
        let lim = limits(1, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("cid", 1, vec![binding("sip:p@10.0.0.1:5060", IpPhone)]), &lim);
        // Same Call-ID, new Contact: the phone moved.
        let moved = register("cid", 2, vec![binding("sip:p@10.0.0.2:5060", IpPhone)]);
        match book.decide(&moved, &lim, NOW, false, &exact) {
            Verdict::Admit { removals } => {
                assert_eq!(removals.len(), 1);
                assert_eq!((&*removals[0].device.uri, &removals[0].cause), ("sip:p@10.0.0.1:5060", &RemovalCause::Moved));
            }
            other => panic!("{other:?}"),
        }
        // Same +sip.instance with a new Call-ID and Contact: also the same device.
        let mut book = loaded();
        let mut with_instance = binding("sip:m@10.0.0.1", IpPhone);
        with_instance.instance = normalize_instance("\"<urn:uuid:ABC>\"");
        registered(&mut book, register("one", 1, vec![with_instance.clone()]), &lim);
        with_instance.uri = "sip:m@10.0.0.3".into();
        with_instance.head_read = Default::default();
        with_instance.instance = normalize_instance("<urn:uuid:abc>");
        match book.decide(&register("two", 1, vec![with_instance]), &lim, NOW, false, &exact) {
            Verdict::Admit { removals } => assert_eq!(&*removals[0].device.uri, "sip:m@10.0.0.1"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_partial_refresh_with_the_same_call_id_removes_nothing() {
        let lim = limits(3, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("c", 1, vec![binding("sip:1@h", IpPhone), binding("sip:2@h", IpPhone)]), &lim);
        match book.decide(&register("c", 2, vec![binding("sip:1@h", IpPhone)]), &lim, NOW, false, &exact) {
            Verdict::Admit { removals } => assert!(removals.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn replace_oldest_removes_the_longest_registered_but_never_one_refreshing_now() {
        let lim = limits(2, 1, AtLimit::ReplaceOldest);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        book.devices.iter_mut().for_each(|d| d.registered_at = 1);
        registered(&mut book, register("b", 1, vec![binding("sip:b@h", IpPhone)]), &lim);
        let c = register("c", 1, vec![binding("sip:c@h", IpPhone)]);
        assert_eq!(book.decide(&c, &lim, NOW, false, &exact), Verdict::Confirm);
        match book.decide(&c, &lim, NOW, true, &exact) {
            Verdict::Admit { removals } => {
                assert_eq!(&*removals[0].device.uri, "sip:a@h");
                assert_eq!(removals[0].cause, RemovalCause::Replaced(IpPhone));
            }
            other => panic!("{other:?}"),
        }
        // "a" refreshing together with a new contact: "b" is the one replaced.
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        book.devices.iter_mut().for_each(|d| d.registered_at = 1);
        registered(&mut book, register("b", 1, vec![binding("sip:b@h", IpPhone)]), &lim);
        match book.decide(
            &register("z", 1, vec![binding("sip:a@h", IpPhone), binding("sip:n@h", IpPhone)]),
            &lim,
            NOW,
            true,
            &exact,
        ) {
            Verdict::Admit { removals } => assert_eq!(&*removals[0].device.uri, "sip:b@h"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zero_limit_refuses_even_with_replace_oldest() {
        let lim = limits(0, 1, AtLimit::ReplaceOldest);
        let reason = refused(loaded().decide(&register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim, NOW, true, &exact));
        assert_eq!(reason, "Forbidden - IP phone not allowed (limit 0)");
    }

    #[test]
    fn the_store_removing_a_device_during_its_own_unregister_needs_no_store_read() {
        let (mut book, bye, lim) = phone_a_unregistering_beside_b();
        // The registrar deletes the contact before its answer is seen.
        assert!(!book.on_removed("sip:a@h", NOW), "its own unregister: expected");
        assert!(book.is_known());
        assert_eq!(uris(&book), ["sip:b@h"]);
        assert!(book.on_answer(&bye.key, true, &[("sip:b@h", 500)], NOW));
        assert_eq!(uris(&book), ["sip:b@h"]);
        // Not for an older REGISTER of another dialog, nor while a REGISTER adds the URI again.
        registered(&mut book, register("a2", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        let stale = unregister("a", 3, "sip:a@h");
        assert!(matches!(book.decide(&stale, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        assert!(book.on_removed("sip:a@h", NOW), "the book's device registered in another dialog");
        assert!(!book.is_known());
        let mut book = loaded();
        registered(&mut book, register("c", 1, vec![binding("sip:c@h", IpPhone)]), &lim);
        let bye = unregister("c", 2, "sip:c@h");
        assert!(matches!(book.decide(&bye, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        let back = register("c", 3, vec![binding("sip:c@h", IpPhone)]);
        assert!(matches!(book.decide(&back, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        assert!(book.on_removed("sip:c@h", NOW), "added again by a REGISTER awaiting its answer");
        assert!(!book.is_known());
    }

    #[test]
    fn an_early_removal_whose_unregister_fails_or_is_never_answered_needs_a_store_read() {
        let lim = limits(2, 1, AtLimit::Reject);
        for outcome in ["failed", "never answered"] {
            let mut book = loaded();
            registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
            let bye = unregister("a", 2, "sip:a@h");
            assert!(matches!(book.decide(&bye, &lim, NOW, false, &exact), Verdict::Admit { .. }));
            assert!(!book.on_removed("sip:a@h", NOW));
            assert!(book.is_known());
            // The contact may have been added back by something the book never saw.
            let next = register("n", 1, vec![binding("sip:n@h", IpPhone)]);
            if outcome == "failed" {
                assert!(book.on_answer(&bye.key, false, &[], NOW));
                assert!(!book.is_known(), "{outcome}");
                continue;
            }
            let later = NOW + RESERVATION_SECONDS + 1;
            assert_eq!(book.decide(&next, &lim, later, false, &exact), Verdict::Confirm, "{outcome}");
            assert!(!book.is_known(), "{outcome}");
        }
    }

    #[test]
    fn unregisters_are_admitted_and_free_their_slot() {
        let lim = limits(1, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        let mut gone = binding("sip:a@h", IpPhone);
        gone.removes = true;
        // Remove one and add another in the same REGISTER: admitted although the limit is 1.
        registered(&mut book, register("b", 1, vec![gone, binding("sip:b@h", IpPhone)]), &lim);
        // The answer alone never removes; the store's removal notice does, through a store read.
        assert!(book.on_removed("sip:a@h", NOW));
        assert!(!book.is_known());
        let read_at = book.generation();
        assert!(book.load_from_store(vec![Device { expires_at: NOW + 600, ..unknown_device("sip:b@h", NOW) }], NOW, read_at));
        assert_eq!(uris(&book), ["sip:b@h"]);
        let mut star = register("b", 2, Vec::new());
        star.star = true;
        assert_eq!(book.decide(&star, &lim, NOW, false, &exact), Verdict::Admit { removals: vec![] });
        assert!(book.on_answer(&star.key, true, &[], NOW));
    }

    #[test]
    fn concurrent_admissions_hold_their_slot_until_the_answer() {
        let lim = limits(1, 1, AtLimit::Reject);
        let mut book = loaded();
        let first = register("a", 1, vec![binding("sip:a@h", IpPhone)]);
        assert!(matches!(book.decide(&first, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        // Before the registrar answers the first, the second sees the slot taken.
        let second = register("b", 1, vec![binding("sip:b@h", IpPhone)]);
        refused(book.decide(&second, &lim, NOW, true, &exact));
        // The registrar refused the first (e.g. max_contacts): the slot is free at once.
        assert!(book.on_answer(&first.key, false, &[], NOW));
        assert!(matches!(book.decide(&second, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        // A reservation without an answer ends by itself.
        let mut book = loaded();
        assert!(matches!(book.decide(&first, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        assert!(matches!(book.decide(&second, &lim, NOW + RESERVATION_SECONDS + 1, false, &exact), Verdict::Admit { .. }));
    }

    #[test]
    fn a_refused_refresh_keeps_the_device_and_its_first_registration() {
        let lim = limits(1, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        book.devices.iter_mut().for_each(|d| d.registered_at = 7);
        let refresh = register("a", 2, vec![binding("sip:a@h", IpPhone)]);
        assert!(matches!(book.decide(&refresh, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        assert!(book.on_answer(&refresh.key, false, &[], NOW));
        assert_eq!(book.devices(NOW)[0].registered_at, 7);
        registered(&mut book, register("a", 3, vec![binding("sip:a@h", IpPhone)]), &lim);
        assert_eq!(book.devices(NOW)[0].registered_at, 7);
    }

    #[test]
    fn the_registrars_answer_is_the_truth() {
        let lim = limits(3, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        let b = register("b", 1, vec![binding("sip:b@h", IpPhone)]);
        assert!(matches!(book.decide(&b, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        // A binding nobody told us about shows up; "a" is missing from this answer.
        let answer = [("sip:b@h", 600), ("sip:stranger@h", 100)];
        assert!(!book.on_answer(&b.key, true, &answer, NOW));
        assert_eq!(uris(&book), ["sip:a@h", "sip:b@h", "sip:stranger@h"], "absence removes nothing");
        assert!(!book.is_known(), "an unknown binding makes the book read the store again");
        assert_eq!(book.device("sip:b@h").unwrap().expires_at, NOW + 600);
    }

    #[test]
    fn answers_in_another_order_never_lose_a_device() {
        // The registrar handled A then B; B's answer (listing both) is applied before A's.
        let lim = limits(2, 1, AtLimit::Reject);
        let mut book = loaded();
        let a = register("a", 1, vec![binding("sip:a@h", IpPhone)]);
        let b = register("b", 1, vec![binding("sip:b@h", IpPhone)]);
        assert!(matches!(book.decide(&a, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        assert!(matches!(book.decide(&b, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        assert!(book.on_answer(&b.key, true, &[("sip:a@h", 600), ("sip:b@h", 600)], NOW));
        assert!(book.on_answer(&a.key, true, &[("sip:a@h", 600)], NOW));
        assert_eq!(uris(&book), ["sip:a@h", "sip:b@h"]);
        refused(book.decide(&register("c", 1, vec![binding("sip:c@h", IpPhone)]), &lim, NOW, true, &exact));
    }

    #[test]
    fn a_store_read_overtaken_by_an_answer_is_not_taken() {
        let lim = limits(1, 1, AtLimit::Reject);
        let mut book = loaded();
        let a = register("a", 1, vec![binding("sip:a@h", IpPhone)]);
        assert!(matches!(book.decide(&a, &lim, NOW, false, &exact), Verdict::Admit { .. }));
        // A store read starts before the registrar stored "a" ...
        let read_at = book.generation();
        // ... the registrar stores "a" and answers ...
        assert!(book.on_answer(&a.key, true, &[("sip:a@h", 600)], NOW));
        // ... and the read (empty) arrives late: it must not erase "a".
        assert!(!book.load_from_store(Vec::new(), NOW, read_at));
        assert_eq!(uris(&book), ["sip:a@h"]);
        refused(book.decide(&register("b", 1, vec![binding("sip:b@h", IpPhone)]), &lim, NOW, true, &exact));
    }

    #[test]
    fn store_reads_keep_what_the_book_knew() {
        let lim = limits(3, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", Web)]), &lim);
        let mut stored = unknown_device("sip:a@h", NOW);
        stored.expires_at = NOW + 50;
        let other = Device { expires_at: NOW + 60, ..unknown_device("sip:o@h", NOW) };
        let read_at = book.generation();
        assert!(book.load_from_store(vec![stored.clone(), other.clone()], NOW, read_at));
        let a = book.device("sip:a@h").unwrap();
        assert_eq!((a.client_type, a.expires_at), (Web, NOW + 50));
        assert!(book.is_known());
        assert!(book.on_removed("sip:o@h", NOW));
        assert!(!book.is_known());
        // Removing an expired device changes nothing.
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", Web)]), &lim);
        assert!(!book.on_removed("sip:a@h", NOW + 700));
        assert!(book.is_known());
    }

    #[test]
    fn the_total_cap_counts_all_types_together() {
        let lim = Limits {
            per_type: TypeLimits { ip_phone: 5, web: 3, desktop: 3, mobile: 3 },
            total: Some(1),
            at_limit: AtLimit::Reject,
        };
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        let reason = refused(book.decide(&register("w", 1, vec![binding("sip:w@h", Web)]), &lim, NOW, true, &exact));
        assert_eq!(reason, "Forbidden - device limit 1 reached");
        let replacing = Limits { at_limit: AtLimit::ReplaceOldest, ..lim };
        match book.decide(&register("w", 1, vec![binding("sip:w@h", Web)]), &replacing, NOW, true, &exact) {
            Verdict::Admit { removals } => assert_eq!(&*removals[0].device.uri, "sip:a@h"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_device_changing_type_needs_room_in_the_new_type_and_lowered_limits_keep_devices() {
        let lim = limits(2, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("w", 1, vec![binding("sip:w@h", Web)]), &lim);
        registered(&mut book, register("a", 1, vec![binding("sip:a@h", IpPhone)]), &lim);
        // The phone now says it is a web client: web is full.
        refused(book.decide(&register("a", 2, vec![binding("sip:a@h", Web)]), &lim, NOW, true, &exact));
        registered(&mut book, register("b", 1, vec![binding("sip:b@h", IpPhone)]), &lim);
        // Limit lowered to 1: both phones keep refreshing, a third is refused.
        let lowered = limits(1, 1, AtLimit::Reject);
        registered(&mut book, register("a", 3, vec![binding("sip:a@h", IpPhone)]), &lowered);
        registered(&mut book, register("b", 2, vec![binding("sip:b@h", IpPhone)]), &lowered);
        refused(book.decide(&register("c", 1, vec![binding("sip:c@h", IpPhone)]), &lowered, NOW, true, &exact));
    }

    #[test]
    fn uri_comparison_is_the_callers() {
        let lim = limits(1, 1, AtLimit::Reject);
        let mut book = loaded();
        registered(&mut book, register("a", 1, vec![binding("sip:a@HOST", IpPhone)]), &lim);
        let case_blind = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let refresh = register("x", 1, vec![binding("sip:a@host", IpPhone)]);
        assert!(matches!(book.decide(&refresh, &lim, NOW, true, &case_blind), Verdict::Admit { .. }));
    }
}
