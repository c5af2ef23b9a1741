//! `step!`: one step of the FD procedure (TS 23.282 7.5.2.4.3) as a log event on the
//! `mcdata::steps` target, which `mcdata demo` prints. Exported at the crate root, so
//! every module writes `crate::step!` without importing the module that sends the step.

/// Log one step of the procedure; `mcdata demo` prints these.
#[macro_export]
macro_rules! step {
    ($n:expr, $actor:expr, $($arg:tt)+) => {
        tracing::info!(target: "mcdata::steps", step = $n, actor = $actor, $($arg)+)
    };
}
