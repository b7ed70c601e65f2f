//! The audit log (`audit_event`, data-model.md "Operational records"): who did what to which
//! object, the changed fields and the generation after the change. Written inside the
//! transaction of the change it records, so a change and its event commit together.

use serde_json::Value;

use crate::store::Tx;
use crate::with_tx;

/// One `audit_event` row (`id` and `at` are the database's).
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent<'a> {
    /// `cli:<login name>` for commands ([`cli_actor`]), a username for the UI and API.
    pub actor: &'a str,
    /// What was done, `<object type>.<verb>`: `host.disable`, `host.enable`.
    pub action: &'a str,
    /// `host`, `site`, …
    pub object_type: &'a str,
    /// The object's id, as text.
    pub object_id: Option<String>,
    /// The site the object belongs to (owners see their sites' events).
    pub site_id: Option<i64>,
    /// The changed fields, `{"field": {"old": …, "new": …}}`, secrets masked.
    pub changes: Value,
    /// `meta.generation` after the change (the same as before when it changed no selection
    /// data).
    pub generation_after: Option<i64>,
}

/// Inserts `event` in the open transaction `tx`.
pub async fn record(tx: &mut Tx, event: &AuditEvent<'_>) -> Result<(), sqlx::Error> {
    with_tx!(tx, c => sqlx::query(
        "INSERT INTO audit_event (actor, action, object_type, object_id, site_id, changes, \
         generation_after) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(event.actor)
        .bind(event.action)
        .bind(event.object_type)
        .bind(event.object_id.as_deref())
        .bind(event.site_id)
        .bind(&event.changes)
        .bind(event.generation_after)
        .execute(&mut *c)
        .await
        .map(|_| ()))
}

/// The actor of a command run from the shell (control-plane-decisions.md D7): `cli:` and the
/// login name of the OS user: `$USER`, else `$LOGNAME`, else the password entry of the
/// effective user id (services often run without either variable), else `cli:uid<N>`.
pub fn cli_actor() -> String {
    let from_env = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
    match from_env.or_else(login_name) {
        Some(user) => format!("cli:{user}"),
        None => format!("cli:uid{}", effective_uid()),
    }
}

#[cfg(unix)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn effective_uid() -> u32 {
    0
}

/// The user name of the effective user id from the password database.
#[cfg(unix)]
fn login_name() -> Option<String> {
    let uid = effective_uid();
    let mut buf = vec![0u8; 4096];
    // SAFETY: zeroed `passwd` is a valid out-parameter (pointers null, integers 0).
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, writable memory of the stated size; on success
    // `result` points at `pwd`, whose strings point into `buf`, read before `buf` is dropped.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: `pw_name` is a NUL-terminated string inside `buf` (see above).
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    let name = name.to_str().ok()?.to_string();
    (!name.is_empty()).then_some(name)
}

#[cfg(not(unix))]
fn login_name() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_actor_names_a_user() {
        let a = super::cli_actor();
        assert!(a.starts_with("cli:") && a.len() > 4, "{a}");
    }

    #[test]
    fn password_entry_is_a_name_or_nothing() {
        // Containers may run under a uid without a password entry: then `None`, never "".
        if let Some(name) = super::login_name() {
            assert!(!name.is_empty() && !name.contains('\0'));
        }
    }
}
