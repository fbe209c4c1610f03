//! A minimal PostgreSQL client over the libpq that res_config_pgsql already loads (opened with
//! dlopen, so the module neither links nor needs libpq when PostgreSQL is not used). Used only
//! for advisory locks that serialise admissions across nodes.
use std::ffi::{c_char, c_int, c_void, CString};

use super::text::from_c;

type ConnectDb = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type Status = unsafe extern "C" fn(*const c_void) -> c_int;
type Exec = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;
type ResultStatus = unsafe extern "C" fn(*const c_void) -> c_int;
type GetValue = unsafe extern "C" fn(*const c_void, c_int, c_int) -> *const c_char;
type NTuples = unsafe extern "C" fn(*const c_void) -> c_int;
type Clear = unsafe extern "C" fn(*mut c_void);
type Finish = unsafe extern "C" fn(*mut c_void);
type ErrorMessage = unsafe extern "C" fn(*const c_void) -> *const c_char;

struct Api {
    connectdb: ConnectDb,
    status: Status,
    exec: Exec,
    result_status: ResultStatus,
    getvalue: GetValue,
    ntuples: NTuples,
    clear: Clear,
    finish: Finish,
    error_message: ErrorMessage,
}

const CONNECTION_OK: c_int = 0;
const PGRES_TUPLES_OK: c_int = 2;

fn api() -> Option<&'static Api> {
    static API: once_cell::sync::OnceCell<Option<Api>> = once_cell::sync::OnceCell::new();
    API.get_or_init(|| {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the handle is never closed, so the
        // function pointers stay valid for the life of the process.
        unsafe {
            let handle = libc::dlopen(c"libpq.so.5".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if handle.is_null() {
                return None;
            }
            macro_rules! symbol {
                ($name:literal, $type:ty) => {{
                    let pointer = libc::dlsym(handle, $name.as_ptr());
                    if pointer.is_null() {
                        return None;
                    }
                    std::mem::transmute::<*mut c_void, $type>(pointer)
                }};
            }
            Some(Api {
                connectdb: symbol!(c"PQconnectdb", ConnectDb),
                status: symbol!(c"PQstatus", Status),
                exec: symbol!(c"PQexec", Exec),
                result_status: symbol!(c"PQresultStatus", ResultStatus),
                getvalue: symbol!(c"PQgetvalue", GetValue),
                ntuples: symbol!(c"PQntuples", NTuples),
                clear: symbol!(c"PQclear", Clear),
                finish: symbol!(c"PQfinish", Finish),
                error_message: symbol!(c"PQerrorMessage", ErrorMessage),
            })
        }
    })
    .as_ref()
}

/// One connection; used by one thread at a time (the caller holds it behind a mutex).
pub struct Connection {
    api: &'static Api,
    conn: *mut c_void,
}

// SAFETY: a libpq connection may be used from any thread as long as only one uses it at a time,
// which `&mut self` on every call guarantees.
unsafe impl Send for Connection {}

impl Connection {
    /// Connects with a libpq connection string ("host=... port=... dbname=...").
    pub fn connect(conninfo: &str) -> Result<Connection, String> {
        let api = api().ok_or("libpq.so.5 could not be loaded")?;
        let conninfo = CString::new(conninfo).map_err(|_| "connection settings contain a NUL byte".to_string())?;
        // SAFETY: PQconnectdb copies the string and returns a connection we own (or null).
        let conn = unsafe { (api.connectdb)(conninfo.as_ptr()) };
        if conn.is_null() {
            return Err("out of memory".into());
        }
        let connection = Connection { api, conn };
        // SAFETY: conn is a live connection.
        if unsafe { (api.status)(conn) } != CONNECTION_OK {
            return Err(connection.error());
        }
        Ok(connection)
    }

    fn error(&self) -> String {
        // SAFETY: conn is live; the message is owned by it and copied here.
        unsafe { from_c((self.api.error_message)(self.conn)) }.trim().to_string()
    }

    pub fn is_ok(&self) -> bool {
        // SAFETY: conn is live.
        unsafe { (self.api.status)(self.conn) == CONNECTION_OK }
    }

    /// Runs a query returning one boolean (`SELECT pg_try_advisory_lock(1)`).
    pub fn query_bool(&mut self, sql: &str) -> Result<bool, String> {
        let sql = CString::new(sql).map_err(|_| "query contains a NUL byte".to_string())?;
        // SAFETY: conn is live; the result is ours to clear, read only before PQclear.
        unsafe {
            let result = (self.api.exec)(self.conn, sql.as_ptr());
            if result.is_null() {
                return Err(self.error());
            }
            let answer = if (self.api.result_status)(result) == PGRES_TUPLES_OK && (self.api.ntuples)(result) == 1 {
                Ok(from_c((self.api.getvalue)(result, 0, 0)) == "t")
            } else {
                Err(self.error())
            };
            (self.api.clear)(result);
            answer
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: conn is live and not used after this.
        unsafe { (self.api.finish)(self.conn) }
    }
}
