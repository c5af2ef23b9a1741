//! What a service manager is told (sd_notify(3), systemd's `Type=notify`): ready once the
//! listeners accept connections, reloading while SIGHUP's reload runs (then ready again),
//! stopping when a graceful shutdown begins. Without `NOTIFY_SOCKET` in the environment
//! (not started by systemd, or `Type=simple`) every call does nothing. A notification that
//! cannot be sent is logged, never fatal: the service goes on serving.
//!
//! The units in `packaging/systemd/` are `Type=notify`: `main.rs` calls [`notify_ready`]
//! after the servers started, [`notify_reloading`] before a SIGHUP reload and
//! [`notify_ready`] after it, and [`notify_stopping`] before shutting down.

use sd_notify::NotifyState;

/// `READY=1`: start-up is finished (and, after [`notify_reloading`], the reload is).
pub fn notify_ready() {
    send("ready", &[NotifyState::Ready]);
}

/// `RELOADING=1` with `MONOTONIC_USEC` (systemd 253 and later require it beside
/// `RELOADING=1`); follow it with [`notify_ready`] when the reload is done, whether it
/// worked or the old configuration stays.
pub fn notify_reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send("reloading", &[NotifyState::Reloading, now]),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the monotonic clock for the reload notification");
            send("reloading", &[NotifyState::Reloading]);
        }
    }
}

/// `STOPPING=1`: a graceful shutdown has begun.
pub fn notify_stopping() {
    send("stopping", &[NotifyState::Stopping]);
}

fn send(what: &'static str, states: &[NotifyState]) {
    match sd_notify::notify(states) {
        Ok(()) => tracing::debug!(what, "service manager notified"),
        Err(e) => tracing::warn!(what, error = %e, "cannot notify the service manager"),
    }
}
