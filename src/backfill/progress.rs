//! The backfill's progress: live counters that [`run`](super::run) moves on, and their display.
//!
//! On a terminal the display is a progress bar (indicatif) redrawn on stderr: objects done
//! (of how many, once the count beside the copying is finished), MiB copied, objects per
//! second and the ETA. When stderr is not a terminal (or `TERM` is `dumb`) indicatif draws
//! nothing, no escape codes either, and the same counts go to the log every 10 s instead.
//!
//! Where it sits: beside [`super::run`]; started and finished by the `backfill` command.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use tracing::info;

/// Live counters, read by the progress reporter.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicU64,
    pub total_known: AtomicBool,
    pub done: AtomicU64,
    pub bytes: AtomicU64,
}

impl Progress {
    /// The number of objects to do, once counted.
    fn total(&self) -> Option<u64> {
        self.total_known
            .load(Ordering::Relaxed)
            .then(|| self.total.load(Ordering::Relaxed))
    }

    /// `12.0 MiB`: the bytes copied so far.
    fn copied(&self) -> String {
        mib(self.bytes.load(Ordering::Relaxed))
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// How often the bar takes the counters on a terminal (indicatif draws at most 20 times a
/// second).
const DRAW_EVERY: Duration = Duration::from_millis(250);
/// How often the counters are logged when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// The target of the progress log lines: [`crate::backfill`]'s, which log filters and the log
/// lines have always named.
const LOG_TARGET: &str = "s3_replicator::backfill";

/// The progress display of one run, until [`finish`](Self::finish).
#[derive(Debug)]
pub struct ProgressReport {
    progress: Arc<Progress>,
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl ProgressReport {
    /// Stops reporting. On a terminal the bar stays, with the final counts, and what is
    /// printed next starts on the line below it.
    pub fn finish(self) {
        self.task.abort();
        if !self.bar.is_hidden() {
            update(&self.bar, &self.progress);
            self.bar.abandon();
            // indicatif leaves the cursor at the end of the bar's line.
            eprintln!();
        }
    }
}

/// Reports `progress` until [`ProgressReport::finish`]: a bar on stderr when it is a terminal,
/// a log line every 10 s otherwise.
pub fn report_progress(progress: Arc<Progress>) -> ProgressReport {
    report_progress_to(progress, ProgressDrawTarget::stderr())
}

/// [`report_progress`] drawing to `target`; a hidden target means "log instead".
fn report_progress_to(progress: Arc<Progress>, target: ProgressDrawTarget) -> ProgressReport {
    let bar = ProgressBar::with_draw_target(None, target);
    let task = if bar.is_hidden() {
        tokio::spawn(log_every(Arc::clone(&progress), LOG_EVERY))
    } else {
        bar.set_style(style(COUNTING));
        update(&bar, &progress);
        tokio::spawn(draw_every(bar.clone(), Arc::clone(&progress)))
    };
    ProgressReport {
        progress,
        bar,
        task,
    }
}

/// The bar while the objects to do are still being counted: no length, so no ETA yet.
const COUNTING: &str = "{pos} objects · {msg} copied · {rate} · ETA (counting…)";
/// The bar once the count is known.
const COUNTED: &str = "[{bar:20}] {pos}/{len} objects · {msg} copied · {rate} · ETA {left}";

fn style(template: &'static str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ")
        .with_key("rate", rate)
        .with_key("left", left)
}

fn rate(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.0} obj/s", state.per_sec());
}

/// indicatif's ETA, once there is a rate to base it on.
fn left(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = if state.per_sec() > 0.0 {
        write!(w, "{:#}", HumanDuration(state.eta()))
    } else {
        w.write_str("(counting…)")
    };
}

/// Moves the bar to the counters; gives it its length and its ETA once the count is known.
fn update(bar: &ProgressBar, progress: &Progress) {
    if let (None, Some(total)) = (bar.length(), progress.total()) {
        bar.set_style(style(COUNTED));
        bar.set_length(total);
    }
    bar.set_message(progress.copied());
    bar.set_position(progress.done.load(Ordering::Relaxed));
}

async fn draw_every(bar: ProgressBar, progress: Arc<Progress>) {
    loop {
        tokio::time::sleep(DRAW_EVERY).await;
        update(&bar, &progress);
    }
}

async fn log_every(progress: Arc<Progress>, every: Duration) {
    // Tokio's clock, which is the system's except in tests with paused time.
    let started = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(every).await;
        let line = progress_line(&progress, started.elapsed());
        info!(target: LOG_TARGET, message = "Backfill progress.", progress = %line);
    }
}

/// `1234/5000 objects · 12.0 MiB copied · 150 obj/s · ETA 25 s`
pub fn progress_line(progress: &Progress, elapsed: Duration) -> String {
    let done = progress.done.load(Ordering::Relaxed);
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let total = progress.total();
    let eta = match total {
        Some(total) if rate > 0.0 => {
            format!("ETA {:.0} s", total.saturating_sub(done) as f64 / rate)
        }
        _ => "ETA (counting…)".to_owned(),
    };
    let of = total.map(|t| format!("/{t}")).unwrap_or_default();
    format!(
        "{done}{of} objects · {} copied · {rate:.0} obj/s · {eta}",
        progress.copied()
    )
}

#[cfg(test)]
mod tests {
    use std::io::IsTerminal;
    use std::sync::Mutex;

    use indicatif::TermLike;

    use super::*;

    #[test]
    fn progress_shows_an_eta_once_the_total_is_known() {
        let progress = Progress::default();
        progress.done.store(50, Ordering::Relaxed);
        assert!(progress_line(&progress, Duration::from_secs(1)).contains("counting"));
        progress.total.store(100, Ordering::Relaxed);
        progress.total_known.store(true, Ordering::Relaxed);
        assert_eq!(
            progress_line(&progress, Duration::from_secs(1)),
            "50/100 objects · 0.0 MiB copied · 50 obj/s · ETA 1 s"
        );
    }

    /// A terminal that keeps what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl Screen {
        fn text(&self) -> String {
            self.0.lock().unwrap().clone()
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.0.lock().unwrap().push('\r');
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn on_a_terminal_the_bar_shows_count_bytes_rate_then_the_eta() {
        let screen = Screen::default();
        let progress = Arc::new(Progress::default());
        progress.done.store(3, Ordering::Relaxed);
        progress.bytes.store(3 * 1024 * 1024, Ordering::Relaxed);
        let report = report_progress_to(
            Arc::clone(&progress),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        let counting = screen.text();
        assert!(
            counting.contains("3 objects · 3.0 MiB copied · ")
                && counting.contains(" obj/s · ETA (counting…)"),
            "{counting:?}"
        );

        progress.done.store(50, Ordering::Relaxed);
        progress.bytes.store(50 * 1024 * 1024, Ordering::Relaxed);
        progress.total.store(100, Ordering::Relaxed);
        progress.total_known.store(true, Ordering::Relaxed);
        report.finish();
        let text = screen.text();
        let last = text.rsplit('\r').next().unwrap_or_default();
        assert!(
            last.contains("] 50/100 objects · 50.0 MiB copied · ")
                && last.contains(" obj/s · ETA "),
            "{last:?}"
        );
        assert!(!last.contains("counting"), "{last:?}");
    }

    #[test]
    fn indicatif_draws_nothing_when_stderr_is_not_a_terminal() {
        // `cargo test` under CI (and any redirected run) has no terminal on stderr: this is the
        // case that must stay free of escape codes. On a terminal there is nothing to check.
        if !std::io::stderr().is_terminal() {
            assert!(ProgressDrawTarget::stderr().is_hidden());
        }
        assert!(ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()).is_hidden());
    }

    /// A log that keeps what is written to it.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_terminal_progress_is_logged_every_10_s() {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // The runtime of this test is one thread: the reporting task logs through it too.
        let _guard = tracing::subscriber::set_default(subscriber);
        let progress = Arc::new(Progress::default());
        progress.done.store(7, Ordering::Relaxed);
        let report = report_progress_to(Arc::clone(&progress), ProgressDrawTarget::hidden());
        tokio::time::sleep(LOG_EVERY - Duration::from_millis(1)).await;
        assert!(log.0.lock().unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(2)).await;
        report.finish();
        let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(
            logged.contains("s3_replicator::backfill: Backfill progress.")
                && logged.contains("7 objects · 0.0 MiB copied · 1 obj/s · ETA (counting…)"),
            "{logged:?}"
        );
        assert_eq!(logged.lines().count(), 1, "{logged:?}");
    }
}
