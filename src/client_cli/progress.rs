//! Download progress for people: byte counts in binary units, a one-line bar with the
//! percentage and the rate, redrawn in place on stderr (`\r`) at most ten times a second.
//! When stderr is not a terminal only the final line is written.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::support::size::human_bytes;

/// How often the bar is redrawn at most.
pub const REDRAW_EVERY: Duration = Duration::from_millis(100);

const BAR_WIDTH: usize = 24;
const MIB: f64 = 1024.0 * 1024.0;

/// The rate in MiB/s, or `-` before anything measurable happened.
pub fn rate(received: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 0.001 {
        return "- MiB/s".to_string();
    }
    format!("{:.1} MiB/s", received as f64 / MIB / secs)
}

/// One progress line: with a known total
/// `[#########---------------]  37%  4.5 MiB / 12.0 MiB  3.2 MiB/s`,
/// without one `4.5 MiB  3.2 MiB/s`.
pub fn format_progress(received: u64, total: Option<u64>, elapsed: Duration) -> String {
    match total {
        Some(t) => {
            let frac = if t == 0 {
                1.0
            } else {
                (received as f64 / t as f64).clamp(0.0, 1.0)
            };
            let filled = ((frac * BAR_WIDTH as f64).floor() as usize).min(BAR_WIDTH);
            let pct = (frac * 100.0).floor() as u64;
            format!(
                "[{}{}] {pct:>3}%  {} / {}  {}",
                "#".repeat(filled),
                "-".repeat(BAR_WIDTH - filled),
                human_bytes(received),
                human_bytes(t),
                rate(received, elapsed)
            )
        }
        None => format!("{}  {}", human_bytes(received), rate(received, elapsed)),
    }
}

/// A bar on stderr. Feed it every chunk with [`ProgressBar::update`]; call
/// [`ProgressBar::finish`] at the end (it draws the final state and ends the line).
pub struct ProgressBar {
    label: String,
    start: Instant,
    last_draw: Option<Instant>,
    received: u64,
    total: Option<u64>,
    width: usize,
    live: bool,
}

impl ProgressBar {
    /// A bar prefixed with `label` (e.g. the file name); live redraws only on a terminal.
    pub fn new(label: &str) -> ProgressBar {
        ProgressBar {
            label: label.to_string(),
            start: Instant::now(),
            last_draw: None,
            received: 0,
            total: None,
            width: 0,
            live: std::io::stderr().is_terminal(),
        }
    }

    /// Record progress; redraws if the last redraw is older than [`REDRAW_EVERY`].
    pub fn update(&mut self, received: u64, total: Option<u64>) {
        self.received = received;
        self.total = total;
        if !self.live {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < REDRAW_EVERY)
        {
            return;
        }
        self.last_draw = Some(now);
        self.draw("");
    }

    /// Draw the final state and end the line.
    pub fn finish(&mut self) {
        self.draw("\n");
    }

    /// End the line after a failure, keeping what was drawn.
    pub fn abandon(&mut self) {
        if self.live && self.last_draw.is_some() {
            eprintln!();
        }
    }

    fn draw(&mut self, end: &str) {
        let line = format!(
            "{} {}",
            self.label,
            format_progress(self.received, self.total, self.start.elapsed())
        );
        let pad = self.width.saturating_sub(line.chars().count());
        self.width = line.chars().count();
        let mut err = std::io::stderr().lock();
        let lead = if self.live { "\r" } else { "" };
        let _ = write!(err, "{lead}{line}{}{end}", " ".repeat(pad));
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_with_a_total() {
        let line = format_progress(
            3 * 1024 * 1024,
            Some(12 * 1024 * 1024),
            Duration::from_secs(2),
        );
        assert_eq!(
            line,
            "[######------------------]  25%  3.00 MiB / 12.0 MiB  1.5 MiB/s"
        );
        let done = format_progress(10, Some(10), Duration::from_millis(500));
        assert!(
            done.starts_with("[########################] 100%  10 B / 10 B"),
            "{done}"
        );
        // An empty file is complete, and more than announced never overflows the bar.
        assert!(format_progress(0, Some(0), Duration::ZERO).contains("100%"));
        assert!(format_progress(20, Some(10), Duration::ZERO).contains("100%"));
    }

    #[test]
    fn progress_without_a_total_or_time() {
        assert_eq!(
            format_progress(2048, None, Duration::ZERO),
            "2.0 KiB  - MiB/s"
        );
        assert_eq!(rate(10 * 1024 * 1024, Duration::from_secs(4)), "2.5 MiB/s");
    }
}
