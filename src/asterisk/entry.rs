//! Every call from Asterisk into Rust. The `extern "C"` functions the shim calls are generated
//! at the crate root by `declare_module!` for a type implementing `AsteriskModule`; each one is a
//! panic guard around the trait method here, so this layer never names the module layer.
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::callback::CallbackScope;
use super::channel::Channel;
use super::cli::CliCommand;
use super::dialplan::{DialplanApp, DialplanFunction};
use super::guard::guarded;
use super::manager::AmiRequest;
use super::pjsip::{RxRequest, TxResponse};
use super::text::{from_c, lossless_c};
use crate::bindings::{self, pj_bool_t};

/// What a CLI command asks Asterisk to print after it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliOutcome {
    Success,
    ShowUsage,
    Failure,
}

/// The application: Asterisk reaches it only through these functions.
pub trait AsteriskModule {
    fn load() -> Result<(), String>;
    fn unload();
    /// After `unload`, once no call from Asterisk is inside the module: the last moment before
    /// dlclose unmaps the statics without dropping what they hold.
    fn unloaded();
    fn reload() -> Result<(), String>;
    /// A request past authentication (PJSIP service at APPLICATION-1): true when answered.
    fn on_request(request: &RxRequest<'_>) -> bool;
    /// `on_request` panicked: answer the request if letting it through would be wrong.
    fn on_request_failed(request: &RxRequest<'_>) -> bool;
    /// A request before authentication (APPLICATION-3): true when answered.
    fn on_early_request(request: &RxRequest<'_>) -> bool;
    /// A response about to be sent.
    fn on_response(response: &TxResponse<'_>);
    fn cli(command: CliCommand, args: &[String], out: &mut String) -> CliOutcome;
    fn cli_candidates(command: CliCommand, position: usize, word: &str) -> Vec<String>;
    fn ami(request: &AmiRequest);
    /// A dialplan application; -1 hangs the channel up.
    fn application(app: DialplanApp, channel: &Channel<'_>, data: &str) -> i32;
    fn read_function(function: DialplanFunction, channel: Option<&Channel<'_>>, data: &str) -> Result<String, String>;
    /// MULTIREG_DIAL: whole dial targets only, at most `limit` bytes (None: no limit).
    fn read_dial(channel: Option<&Channel<'_>>, data: &str, limit: Option<usize>) -> Result<String, String>;
    fn write_function(function: DialplanFunction, channel: Option<&Channel<'_>>, data: &str, value: &str) -> Result<(), String>;
    /// res_pjsip finished (re)loading objects of `object_type` (endpoint, auth, aor).
    fn pjsip_loaded(object_type: &str);
    /// A contact left the location store.
    fn contact_removed(contact: &RemovedContact);
    /// The address guard saw Asterisk send a digest challenge with `nonce` to `address`.
    fn challenge_sent(address: std::net::IpAddr, nonce: &[u8]);
    /// A PJSIP security event about an authentication of `account` from `address` (Asterisk's
    /// "IPV4/UDP/1.2.3.4/5060" form); `challenge` is the nonce the sender answered.
    fn auth_event(outcome: AuthOutcome, account: &str, address: &str, challenge: &str);
    /// Whether `auth_event` has anything to do with this outcome (asked before the event's text
    /// is copied: Asterisk reports a success for every registration).
    fn wants_auth_event(_outcome: AuthOutcome) -> bool {
        true
    }
    /// app_queue added a member to a queue.
    fn queue_member_added(queue: &str, interface: &str, state_interface: &str);
    /// The state of the busy lamp `Multireg:<extension>` (an `enum ast_device_state` value).
    fn busy_lamp_state(extension: &str) -> i32;
    /// The state of a `PJSIP/...` device changed.
    fn device_state_changed(device: &str);
    /// Work queued with `registration::queue_background_work`, on the module's background serializer.
    fn background_work();
}

/// A contact that left the location store, as it was stored.
#[derive(Debug, Clone, Default)]
pub struct RemovedContact {
    pub aor: String,
    pub uri: String,
    pub endpoint: String,
    pub user_agent: String,
    /// "address:port" of the REGISTER that stored it.
    pub source: String,
    /// When it was due to expire (unix seconds).
    pub expiration_time: i64,
}

/// What a PJSIP security event says about an authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Failed,
    Succeeded,
}

/// Calls from Asterisk that are inside the module now. Asterisk can call a function it looked up
/// just before the module unregistered it (an application found by the dialplan a moment before
/// `module unload`, a PJSIP callback already under way), so `unload` waits for this to reach zero
/// before the module's code may be unmapped.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Held for the whole of one call from Asterisk (see `declare_module!`).
pub struct InFlight(());

impl InFlight {
    pub fn enter() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// When a call last entered or left one of the module's dialplan applications, in milliseconds
/// since `APPLICATION_CLOCK` started (0: never). Asterisk's dialplan keeps the pointer to an
/// application it is about to run without a reference (`cached_app` in pbx.c) and frees the
/// application when its module unregisters it: a call being routed into MultiregDial while the
/// module unloads can make Asterisk jump through freed memory. Every module with applications
/// shares this; this module refuses to unload while calls are flowing through its applications.
static APPLICATION_LAST_USED_MS: AtomicU64 = AtomicU64::new(0);
static APPLICATION_CLOCK: OnceLock<Instant> = OnceLock::new();
/// How long the applications must have been idle before an unload goes ahead.
pub const APPLICATIONS_QUIET: Duration = Duration::from_secs(1);

fn application_clock_ms() -> u64 {
    APPLICATION_CLOCK.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Held while a channel runs one of the module's applications (see `declare_module!`).
pub struct InApplication(#[allow(dead_code)] InFlight);

impl InApplication {
    pub fn enter() -> InApplication {
        let in_flight = InFlight::enter();
        APPLICATION_LAST_USED_MS.store(application_clock_ms(), Ordering::SeqCst);
        InApplication(in_flight)
    }
}

impl Drop for InApplication {
    fn drop(&mut self) {
        APPLICATION_LAST_USED_MS.store(application_clock_ms(), Ordering::SeqCst);
    }
}

/// How long ago a call last used one of the applications, if within `APPLICATIONS_QUIET`.
fn applications_recently_used() -> Option<Duration> {
    let last = APPLICATION_LAST_USED_MS.load(Ordering::SeqCst);
    let ago = Duration::from_millis(application_clock_ms().saturating_sub(last));
    (last > 0 && ago < APPLICATIONS_QUIET).then_some(ago)
}

fn asterisk_shutting_down() -> bool {
    // SAFETY: reads a flag of Asterisk's; callable from any thread at any time.
    unsafe { bindings::ast_shutting_down() != 0 }
}

/// After unregistering, how long a thread that had already found one of our functions may take
/// to reach it (PJSIP waits as long when a module is unregistered while it runs).
const UNLOAD_GRACE: Duration = Duration::from_millis(100);
/// The longest `unload` waits for running calls before it gives up and stays loaded.
const UNLOAD_WAIT: Duration = Duration::from_secs(10);

/// Waits until no call from Asterisk is inside the module; false if one still is at the deadline.
fn wait_until_idle() -> bool {
    std::thread::sleep(UNLOAD_GRACE);
    let deadline = Instant::now() + UNLOAD_WAIT;
    while IN_FLIGHT.load(Ordering::SeqCst) > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

const LOAD_DECLINE: c_int = bindings::AST_MODULE_LOAD_DECLINE as c_int;
const PASS_ON: pj_bool_t = bindings::PJ_FALSE as pj_bool_t;
const ANSWERED: pj_bool_t = bindings::PJ_TRUE as pj_bool_t;

fn pj_answer(answered: bool) -> pj_bool_t {
    if answered {
        ANSWERED
    } else {
        PASS_ON
    }
}

pub fn load<M: AsteriskModule>() -> c_int {
    guarded("load_module", LOAD_DECLINE, || match M::load() {
        Ok(()) => bindings::AST_MODULE_LOAD_SUCCESS as c_int,
        Err(reason) => {
            tracing::error!("res_pjsip_multireg not loaded: {reason}");
            // Asterisk unmaps a declined module: what the load put in statics goes first.
            guarded("load_module cleanup", (), M::unloaded);
            LOAD_DECLINE
        }
    })
}

pub fn unload<M: AsteriskModule>() -> c_int {
    // A failed unload keeps the module loaded, the safe outcome when something went wrong.
    guarded("unload_module", -1, || {
        // At shutdown Asterisk ignores a refusal and tears everything down anyway.
        if let Some(ago) = applications_recently_used().filter(|_| !asterisk_shutting_down()) {
            tracing::warn!(
                "res_pjsip_multireg: unload refused: a call used MultiregDial, RingMode or another of the \
                 module's applications {} ms ago, and Asterisk may be about to run one (removing an application \
                 then can crash Asterisk). Unload when no call has been routed through them for {} s; \
                 `module reload` is safe at any time",
                ago.as_millis(),
                APPLICATIONS_QUIET.as_secs()
            );
            return -1;
        }
        M::unload();
        if wait_until_idle() {
            // Everything is unregistered already: a failure here must not keep the module loaded.
            guarded("unload_module cleanup", (), M::unloaded);
            return 0;
        }
        // Still running after everything was unregistered: unmapping now would crash Asterisk.
        tracing::error!("res_pjsip_multireg: a call into the module is still running; unload refused, module loaded again");
        if let Err(reason) = M::load() {
            tracing::error!("res_pjsip_multireg: could not register again after the refused unload: {reason}");
        }
        -1
    })
}

pub fn reload<M: AsteriskModule>() -> c_int {
    guarded("reload_module", -1, || match M::reload() {
        Ok(()) => 0,
        Err(reason) => {
            tracing::error!("reload failed, previous settings stay in force: {reason}");
            -1
        }
    })
}

/// # Safety
/// `rdata` must be null or the request PJSIP passed to the running `on_rx_request`.
pub unsafe fn on_rx_request<M: AsteriskModule>(rdata: *mut bindings::pjsip_rx_data) -> pj_bool_t {
    let scope = CallbackScope::new();
    // SAFETY: the caller's contract; the request borrows this callback's scope.
    let Some(request) = (unsafe { RxRequest::from_callback(rdata, &scope) }) else { return PASS_ON };
    let handled = guarded("the REGISTER/INVITE service", None, || Some(M::on_request(&request)));
    match handled {
        Some(answered) => pj_answer(answered),
        // The decision panicked: the module answers what it must not let through.
        None => pj_answer(guarded("the REGISTER/INVITE service's fallback", false, || M::on_request_failed(&request))),
    }
}

/// # Safety
/// As `on_rx_request`.
pub unsafe fn on_rx_early<M: AsteriskModule>(rdata: *mut bindings::pjsip_rx_data) -> pj_bool_t {
    let scope = CallbackScope::new();
    // SAFETY: the caller's contract; the request borrows this callback's scope.
    let Some(request) = (unsafe { RxRequest::from_callback(rdata, &scope) }) else { return PASS_ON };
    pj_answer(guarded("address guard", false, || M::on_early_request(&request)))
}

/// # Safety
/// `tdata` must be null or the response PJSIP passed to the running `on_tx_response`.
pub unsafe fn on_tx_response<M: AsteriskModule>(tdata: *mut bindings::pjsip_tx_data) {
    let scope = CallbackScope::new();
    // SAFETY: the caller's contract; the response borrows this callback's scope.
    let Some(response) = (unsafe { TxResponse::from_callback(tdata, &scope) }) else { return };
    guarded("response observer", (), || M::on_response(&response))
}

/// CLI dispatcher: 0 = success, 1 = show usage, 2 = failure.
///
/// # Safety
/// `argv` must hold `argc` valid C strings of the running command.
pub unsafe fn cli_execute<M: AsteriskModule>(command: c_int, fd: c_int, argc: c_int, argv: *const *const c_char) -> c_int {
    let Ok(command) = CliCommand::try_from(command) else { return 2 };
    let args: Vec<String> = (0..argc.max(0) as usize)
        // SAFETY: the caller's contract.
        .map(|i| unsafe { from_c(*argv.add(i)) })
        .collect();
    guarded("cli", 2, || {
        let mut output = String::new();
        let outcome = M::cli(command, &args, &mut output);
        super::cli::print(fd, &output);
        match outcome {
            CliOutcome::Success => 0,
            CliOutcome::ShowUsage => 1,
            CliOutcome::Failure => 2,
        }
    })
}

/// Tab-completion candidates, newline-separated (null for none); returned to
/// `cli_candidates_free`.
///
/// # Safety
/// `word` must be null or the NUL-terminated word being completed.
pub unsafe fn cli_candidates<M: AsteriskModule>(command: c_int, position: c_int, word: *const c_char) -> *mut c_char {
    let Ok(command) = CliCommand::try_from(command) else { return std::ptr::null_mut() };
    // SAFETY: the caller's contract.
    let word = unsafe { from_c(word) };
    guarded("cli completion", std::ptr::null_mut(), || {
        let candidates = M::cli_candidates(command, position.max(0) as usize, &word);
        if candidates.is_empty() {
            return std::ptr::null_mut();
        }
        super::text::to_c(&candidates.join("\n")).into_raw()
    })
}

/// # Safety
/// `candidates` must be null or a pointer from `cli_candidates`, whose bytes the caller may
/// have changed but not its length.
pub unsafe fn cli_candidates_free(candidates: *mut c_char, length: usize) {
    if candidates.is_null() {
        return;
    }
    // SAFETY: the allocation came from CString::into_raw with `length` bytes plus the NUL; the
    // shim's strsep may have written NULs inside, so the length is given, not recomputed.
    unsafe {
        let bytes = Vec::from_raw_parts(candidates.cast::<u8>(), length + 1, length + 1);
        drop(CString::from_vec_with_nul_unchecked(bytes));
    }
}

/// # Safety
/// Both pointers must come from the running AMI action callback.
pub unsafe fn ami_execute<M: AsteriskModule>(session: *mut bindings::mansession, message: *const bindings::message) -> c_int {
    let scope = CallbackScope::new();
    // SAFETY: the caller's contract; the request borrows this callback's scope.
    let request = unsafe { AmiRequest::from_callback(session, message, &scope) };
    guarded("ami", 0, || {
        M::ami(&request);
        0
    })
}

/// # Safety
/// `chan` must be the channel running the application; `data` a C string or null.
pub unsafe fn app_execute<M: AsteriskModule>(app: c_int, chan: *mut bindings::ast_channel, data: *const c_char) -> c_int {
    let Ok(app) = DialplanApp::try_from(app) else { return -1 };
    let scope = CallbackScope::new();
    // SAFETY: the caller's contract; the channel borrows this callback's scope.
    let Some(channel) = (unsafe { Channel::from_callback(chan, &scope) }) else { return -1 };
    // SAFETY: the caller's contract.
    let data = unsafe { from_c(data) };
    guarded("dialplan application", -1, || M::application(app, &channel, &data))
}

/// # Safety
/// `chan` null or the channel evaluating the function; `buf` writable for `len` bytes.
pub unsafe fn function_read<M: AsteriskModule>(
    function: c_int,
    chan: *mut bindings::ast_channel,
    data: *const c_char,
    buf: *mut c_char,
    len: usize,
) -> c_int {
    let Ok(function) = DialplanFunction::try_from(function) else { return -1 };
    let scope = CallbackScope::new();
    // SAFETY: the caller's contract; the channel borrows this callback's scope.
    let channel = unsafe { Channel::from_callback(chan, &scope) };
    // SAFETY: the caller's contract.
    let data = unsafe { from_c(data) };
    let result = guarded("dialplan function read", Err("internal error".to_string()), || {
        M::read_function(function, channel.as_ref(), &data)
    });
    let (value, status) = value_or_warning(result);
    // SAFETY: the caller's contract on buf and len.
    unsafe { super::text::copy_to_buffer(&value, buf, len) };
    status
}

/// A dialplan function's answer: its value and 0, or (logged) an empty value and -1.
pub(super) fn value_or_warning(result: Result<String, String>) -> (String, c_int) {
    match result {
        Ok(value) => (value, 0),
        Err(reason) => {
            tracing::warn!("{reason}");
            (String::new(), -1)
        }
    }
}

/// # Safety
/// `chan` null or the channel evaluating the function; `data` and `value` C strings or null.
pub unsafe fn function_write<M: AsteriskModule>(
    function: c_int,
    chan: *mut bindings::ast_channel,
    data: *const c_char,
    value: *const c_char,
) -> c_int {
    let Ok(function) = DialplanFunction::try_from(function) else { return -1 };
    let scope = CallbackScope::new();
    // SAFETY: the caller's contract; the channel borrows this callback's scope.
    let channel = unsafe { Channel::from_callback(chan, &scope) };
    // SAFETY: the caller's contract.
    let (data, value) = unsafe { (from_c(data), from_c(value)) };
    guarded("dialplan function write", -1, || match M::write_function(function, channel.as_ref(), &data, &value) {
        Ok(()) => 0,
        Err(reason) => {
            tracing::warn!("{reason}");
            -1
        }
    })
}

/// # Safety
/// `object_type` must be null or a NUL-terminated string valid for the call.
pub unsafe fn pjsip_loaded<M: AsteriskModule>(object_type: *const c_char) {
    // SAFETY: the caller's contract.
    let object_type = unsafe { from_c(object_type) };
    guarded("pjsip reload observer", (), || M::pjsip_loaded(&object_type))
}

/// # Safety
/// `contact` must be null or the live `ast_sip_contact` sorcery reports as deleted.
pub unsafe fn contact_deleted<M: AsteriskModule>(contact: *const c_void) {
    if contact.is_null() {
        return;
    }
    // SAFETY: the caller's contract; the string fields live as long as the object.
    let removed = unsafe {
        let contact = &*contact.cast::<bindings::ast_sip_contact>();
        RemovedContact {
            aor: from_c(contact.aor),
            uri: lossless_c(contact.uri),
            endpoint: from_c(contact.endpoint_name),
            user_agent: from_c(contact.user_agent),
            source: format!("{}:{}", from_c(contact.via_addr), contact.via_port),
            expiration_time: contact.expiration_time.tv_sec,
        }
    };
    guarded("contact observer", (), || M::contact_removed(&removed))
}

/// # Safety
/// `address` must be null or point at `address_length` bytes (4: IPv4, 16: IPv6, network order);
/// `nonce` must be null or point at `nonce_length` bytes; both valid for the call.
pub unsafe fn challenge_sent<M: AsteriskModule>(
    address: *const u8,
    address_length: c_int,
    nonce: *const c_char,
    nonce_length: c_int,
) {
    if address.is_null() || nonce.is_null() || nonce_length <= 0 {
        return;
    }
    let mut bytes = [0u8; 16];
    let readable = if matches!(address_length, 4 | 16) { address_length as usize } else { return };
    // SAFETY: the caller's contract: `address_length` (4 or 16) readable bytes.
    bytes[..readable].copy_from_slice(unsafe { std::slice::from_raw_parts(address, readable) });
    let Some(address) = super::pjsip::address_from_shim(bytes, address_length) else { return };
    // SAFETY: the caller's contract. The nonce is borrowed as bytes: it is only hashed.
    let nonce = unsafe { std::slice::from_raw_parts(nonce.cast::<u8>(), nonce_length as usize) };
    guarded("challenge observer", (), || M::challenge_sent(address, nonce))
}

/// Whether an authentication event with this outcome (MULTIREG_AUTH_*) is wanted, asked by the
/// observer before it reads the event's fields.
pub fn wants_auth_event<M: AsteriskModule>(outcome: c_int) -> c_int {
    let Some(outcome) = auth_outcome(outcome) else { return 0 };
    c_int::from(guarded("security event filter", true, || M::wants_auth_event(outcome)))
}

/// A MULTIREG_AUTH_* value of the shim.
fn auth_outcome(outcome: c_int) -> Option<AuthOutcome> {
    match outcome as u32 {
        bindings::MULTIREG_AUTH_FAILED => Some(AuthOutcome::Failed),
        bindings::MULTIREG_AUTH_SUCCEEDED => Some(AuthOutcome::Succeeded),
        _ => None,
    }
}

/// # Safety
/// The three strings must be null or NUL-terminated strings valid for the call.
pub unsafe fn auth_event<M: AsteriskModule>(
    outcome: c_int,
    account: *const c_char,
    address: *const c_char,
    challenge: *const c_char,
) {
    let Some(outcome) = auth_outcome(outcome) else { return };
    // The observer asked `wants_auth_event` before reading the event's fields.
    guarded("security event", (), || {
        // SAFETY: the caller's contract.
        let (account, address, challenge) = unsafe { (from_c(account), from_c(address), from_c(challenge)) };
        M::auth_event(outcome, &account, &address, &challenge)
    })
}

/// # Safety
/// The three strings must be null or NUL-terminated strings valid for the call.
pub unsafe fn queue_member_added<M: AsteriskModule>(
    queue: *const c_char,
    interface: *const c_char,
    state_interface: *const c_char,
) {
    // SAFETY: the caller's contract.
    let (queue, interface, state_interface) = unsafe { (from_c(queue), from_c(interface), from_c(state_interface)) };
    guarded("queue member added", (), || M::queue_member_added(&queue, &interface, &state_interface))
}

/// # Safety
/// `extension` must be a NUL-terminated string valid for the call (Asterisk's device state
/// provider callback).
pub unsafe fn busy_lamp_state<M: AsteriskModule>(extension: *const c_char) -> c_int {
    // SAFETY: the caller's contract.
    let extension = unsafe { from_c(extension) };
    guarded("busy lamp", bindings::AST_DEVICE_UNKNOWN as c_int, || M::busy_lamp_state(&extension))
}

/// # Safety
/// `device` must be a NUL-terminated string valid for the call.
pub unsafe fn device_state_changed<M: AsteriskModule>(device: *const c_char) {
    // SAFETY: the caller's contract.
    let device = unsafe { from_c(device) };
    guarded("device state observer", (), || M::device_state_changed(&device))
}

pub fn background_work<M: AsteriskModule>() {
    guarded("background work", (), M::background_work)
}

/// Generates the `extern "C"` functions the shim (include/shim.c) calls, each forwarding to the
/// guarded function of the same name in this file for `$module`.
macro_rules! declare_module {
    ($module:ty) => {
        mod asterisk_entry_points {
            use std::ffi::{c_char, c_int, c_void};
            use $crate::asterisk::entry;
            use $crate::bindings;

            #[no_mangle]
            pub extern "C" fn multireg_load_module() -> c_int {
                entry::load::<$module>()
            }
            #[no_mangle]
            pub extern "C" fn multireg_unload_module() -> c_int {
                entry::unload::<$module>()
            }
            #[no_mangle]
            pub extern "C" fn multireg_reload_module() -> c_int {
                entry::reload::<$module>()
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_on_rx_request(rdata: *mut bindings::pjsip_rx_data) -> bindings::pj_bool_t {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: PJSIP calls this with the request of the running callback.
                unsafe { entry::on_rx_request::<$module>(rdata) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_on_rx_early(rdata: *mut bindings::pjsip_rx_data) -> bindings::pj_bool_t {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: as above.
                unsafe { entry::on_rx_early::<$module>(rdata) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_on_tx_response(tdata: *mut bindings::pjsip_tx_data) {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: PJSIP calls this with the response of the running callback.
                unsafe { entry::on_tx_response::<$module>(tdata) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_cli_execute(
                command: c_int,
                fd: c_int,
                argc: c_int,
                argv: *const *const c_char,
            ) -> c_int {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: the shim passes the running command's arguments.
                unsafe { entry::cli_execute::<$module>(command, fd, argc, argv) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_cli_candidates(
                command: c_int,
                position: c_int,
                word: *const c_char,
            ) -> *mut c_char {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: the shim passes the word being completed (a C string of the CLI).
                unsafe { entry::cli_candidates::<$module>(command, position, word) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_cli_candidates_free(candidates: *mut c_char, length: usize) {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: the shim hands back what multireg_cli_candidates returned, and its length.
                unsafe { entry::cli_candidates_free(candidates, length) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_ami_execute(
                session: *mut bindings::mansession,
                message: *const bindings::message,
            ) -> c_int {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: Asterisk passes the running action's session and message.
                unsafe { entry::ami_execute::<$module>(session, message) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_app_execute(
                app: c_int,
                chan: *mut bindings::ast_channel,
                data: *const c_char,
            ) -> c_int {
                let _in_application = $crate::asterisk::entry::InApplication::enter();
                // SAFETY: Asterisk passes the channel running the application.
                unsafe { entry::app_execute::<$module>(app, chan, data) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_function_read(
                function: c_int,
                chan: *mut bindings::ast_channel,
                data: *const c_char,
                buf: *mut c_char,
                len: usize,
            ) -> c_int {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: Asterisk passes the evaluating channel and a buffer of len bytes.
                unsafe { entry::function_read::<$module>(function, chan, data, buf, len) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_function_write(
                function: c_int,
                chan: *mut bindings::ast_channel,
                data: *const c_char,
                value: *const c_char,
            ) -> c_int {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: Asterisk passes the evaluating channel and C strings.
                unsafe { entry::function_write::<$module>(function, chan, data, value) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_dial_read_fixed(
                chan: *mut bindings::ast_channel,
                data: *const c_char,
                buf: *mut c_char,
                len: usize,
            ) -> c_int {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: Asterisk passes the evaluating channel and a buffer of len bytes.
                unsafe { $crate::asterisk::functions::dial_read_fixed::<$module>(chan, data, buf, len) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_dial_read_str(
                chan: *mut bindings::ast_channel,
                data: *const c_char,
                out: *mut *mut bindings::ast_str,
                maxlen: isize,
            ) -> c_int {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: Asterisk passes the evaluating channel and its ast_str.
                unsafe { $crate::asterisk::functions::dial_read_str::<$module>(chan, data, out, maxlen) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_on_pjsip_loaded(object_type: *const c_char) {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: sorcery passes the loaded object type's name.
                unsafe { entry::pjsip_loaded::<$module>(object_type) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_on_contact_deleted(contact: *const c_void) {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: sorcery passes the contact being reported.
                unsafe { entry::contact_deleted::<$module>(contact) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_on_challenge_sent(
                address: *const u8,
                address_length: c_int,
                nonce: *const c_char,
                nonce_length: c_int,
            ) {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: the shim passes the challenge's destination address (4 or 16 bytes) and
                // the nonce's bytes as they are in the header.
                unsafe { entry::challenge_sent::<$module>(address, address_length, nonce, nonce_length) }
            }
            #[no_mangle]
            pub extern "C" fn multireg_wants_auth_event(outcome: c_int) -> c_int {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                entry::wants_auth_event::<$module>(outcome)
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_on_auth_event(
                outcome: c_int,
                account: *const c_char,
                address: *const c_char,
                challenge: *const c_char,
            ) {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: the shim passes C strings of the security event.
                unsafe { entry::auth_event::<$module>(outcome, account, address, challenge) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_devstate(extension: *const c_char) -> c_int {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: include/shim.c passes the device name Asterisk gave the provider.
                unsafe { entry::busy_lamp_state::<$module>(extension) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_on_device_state(device: *const c_char) {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: include/shim.c passes the device name of a device state message.
                unsafe { entry::device_state_changed::<$module>(device) }
            }
            #[no_mangle]
            pub extern "C" fn multireg_on_background_work() {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                entry::background_work::<$module>()
            }
            #[no_mangle]
            pub unsafe extern "C" fn multireg_on_queue_member_added(
                queue: *const c_char,
                interface: *const c_char,
                state_interface: *const c_char,
            ) {
                let _in_flight = $crate::asterisk::entry::InFlight::enter();
                // SAFETY: the shim passes C strings of the queue event.
                unsafe { entry::queue_member_added::<$module>(queue, interface, state_interface) }
            }
        }
    };
}
pub(crate) use declare_module;
