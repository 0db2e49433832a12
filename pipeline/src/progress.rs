//! Progress on the terminal: pages done / total and pages per minute.
//! Hidden when stderr is not a terminal or `--quiet` is given; notes are
//! then logged instead so unattended runs still leave a trail.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::fmt::Write;

/// The run's progress bar; only `folio run`'s progress task moves it.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `total` pages.
    pub fn new(total: u64, visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} pages · {ppm} pages/min · eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("ppm", |state: &ProgressState, w: &mut dyn Write| {
            let _ = write!(w, "{:.1}", state.per_sec() * 60.0);
        });
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        Self { bar }
    }

    /// Pages finished so far (read from the store: every worker's work).
    pub fn set(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// A line above the bar (a document finished).
    pub fn note(&self, line: &str) {
        if self.bar.is_hidden() {
            tracing::info!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
