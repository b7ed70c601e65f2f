//! Publish-on-change inside `mirrorfleet serve` (control-plane.md §7.1, §7.2).
//!
//! [`Schedule`] is the decision alone, on explicit instants, so its rules are tested without
//! sleeping: publish when the server starts; after a change of `meta.generation` once no further
//! change came for `debounce`, but no later than `max_delay` after the first pending change; at
//! least every `interval`; after a failure again after a backoff from 5 s doubling to 5 min;
//! never two builds less than `min_gap` apart. [`run`] drives it: it polls the generation every
//! `poll_generation` (so changes committed by other processes, such as CLI commands, are
//! published like the server's own), publishes, and exports the outcome as metrics and logs.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::metrics::{Metrics, RailLabel};
use crate::publish::{PublishError, Publisher, publish_state, read_meta};

/// First retry delay after a failed publish.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The `[publish]` timings of §7.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    pub debounce: Duration,
    pub max_delay: Duration,
    pub min_gap: Duration,
    pub interval: Duration,
    pub poll_generation: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            debounce: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            min_gap: Duration::from_secs(5),
            interval: Duration::from_secs(600),
            poll_generation: Duration::from_millis(250),
        }
    }
}

/// Why a publish starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Startup,
    Change,
    Retry,
    Interval,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::Change => "change",
            Reason::Retry => "retry",
            Reason::Interval => "interval",
        }
    }
}

/// How a publish ended, as far as scheduling cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Published, refused by a guard rail, or on hold: wait for the next change or interval.
    Settled,
    /// Failed: retry after the backoff.
    Failed,
}

/// The scheduling state.
#[derive(Debug)]
pub struct Schedule {
    timings: Timings,
    startup: bool,
    seen_generation: Option<i64>,
    first_pending: Option<Instant>,
    last_change: Option<Instant>,
    last_start: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Schedule {
    pub fn new(timings: Timings) -> Schedule {
        Schedule {
            timings,
            startup: true,
            seen_generation: None,
            first_pending: None,
            last_change: None,
            last_start: None,
            retry_at: None,
            backoff: FIRST_BACKOFF,
        }
    }

    /// Records the generation read at `now`; a different one than last time is a change.
    /// The first reading is the baseline (the startup publish covers it).
    pub fn observe(&mut self, generation: i64, now: Instant) {
        match self.seen_generation {
            Some(g) if g == generation => {}
            Some(_) => {
                self.first_pending.get_or_insert(now);
                self.last_change = Some(now);
            }
            None => {}
        }
        self.seen_generation = Some(generation);
    }

    /// Whether a change is waiting to be published.
    pub fn pending(&self) -> bool {
        self.first_pending.is_some()
    }

    /// The earliest instant at which a publish is due, and why (ignoring `min_gap` and the
    /// startup publish, which is due at once).
    fn due_at(&self) -> Option<(Instant, Reason)> {
        let t = &self.timings;
        let mut due: Vec<(Instant, Reason)> = Vec::with_capacity(3);
        if let (Some(first), Some(last)) = (self.first_pending, self.last_change) {
            due.push(((last + t.debounce).min(first + t.max_delay), Reason::Change));
        }
        if let Some(r) = self.retry_at {
            due.push((r, Reason::Retry));
        }
        if let Some(s) = self.last_start {
            due.push((s + t.interval, Reason::Interval));
        }
        due.into_iter().min_by_key(|(at, _)| *at)
    }

    /// Whether to start a publish at `now`, and why.
    pub fn due(&self, now: Instant) -> Option<Reason> {
        if self.startup {
            return Some(Reason::Startup);
        }
        let (at, reason) = self.due_at()?;
        let gap_ok = self
            .last_start
            .is_none_or(|s| now >= s + self.timings.min_gap);
        (now >= at && gap_ok).then_some(reason)
    }

    /// How long to sleep before looking again: until the next poll, or sooner when a publish
    /// falls due first.
    pub fn next_wake(&self, now: Instant) -> Duration {
        let poll = self.timings.poll_generation;
        if self.startup {
            return Duration::ZERO;
        }
        match self.due_at() {
            Some((at, _)) => {
                let at = match self.last_start {
                    Some(s) => at.max(s + self.timings.min_gap),
                    None => at,
                };
                at.saturating_duration_since(now).min(poll)
            }
            None => poll,
        }
    }

    /// A publish starts at `now`: the pending change is taken (a later change is pending anew).
    pub fn started(&mut self, now: Instant) {
        self.startup = false;
        self.first_pending = None;
        self.last_change = None;
        self.retry_at = None;
        self.last_start = Some(now);
    }

    /// A publish ended at `now`.
    pub fn finished(&mut self, outcome: Outcome, now: Instant) {
        match outcome {
            Outcome::Settled => self.backoff = FIRST_BACKOFF,
            Outcome::Failed => {
                self.retry_at = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Publishes once, for `reason`, and exports the outcome.
async fn publish_once(publisher: &Publisher, metrics: &Metrics, reason: Reason) -> Outcome {
    let started = Instant::now();
    match publisher.publish(false, None, "serve").await {
        Ok(r) => {
            let took = started.elapsed();
            metrics.publish_duration.observe(took.as_secs_f64());
            metrics.published_version.set(r.version as i64);
            metrics.last_success.set(unix_now());
            metrics.on_hold.set(0);
            tracing::info!(
                reason = reason.as_str(),
                version = r.version,
                serial = r.serial,
                bytes = r.size,
                hosts = %r.counts["hosts"],
                directories = %r.counts["directories"],
                seconds = took.as_secs_f64(),
                "published {}",
                r.key
            );
            for w in &r.warnings {
                tracing::warn!("derivation: {w}");
            }
            Outcome::Settled
        }
        Err(PublishError::Held(why)) => {
            metrics.on_hold.set(1);
            tracing::info!(reason = reason.as_str(), "not published: on hold ({why})");
            Outcome::Settled
        }
        Err(PublishError::Refused(trips)) => {
            for t in &trips {
                metrics
                    .refusals
                    .get_or_create(&RailLabel {
                        rail: t.rail.clone(),
                    })
                    .inc();
            }
            tracing::warn!(
                reason = reason.as_str(),
                "publish refused by the guard rails: {}",
                trips
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            Outcome::Settled
        }
        Err(PublishError::Busy(why)) => {
            tracing::info!(reason = reason.as_str(), "not published now: {why}");
            Outcome::Failed
        }
        Err(e) => {
            let stage = e.stage().unwrap_or("build");
            metrics.failed(stage);
            tracing::error!(reason = reason.as_str(), stage, "publish failed: {e}");
            Outcome::Failed
        }
    }
}

/// The publish loop; returns when `shutdown` turns true (a publish under way finishes first:
/// stopping halfway would be safe, the manifest swap being the last step, but would waste it).
pub async fn run(
    publisher: Arc<Publisher>,
    timings: Timings,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut schedule = Schedule::new(timings);
    let mut poll_failing = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = Instant::now();
        match read_meta(&publisher.db).await {
            Ok((_, generation)) => {
                schedule.observe(generation, now);
                if poll_failing {
                    tracing::info!("the database answers again");
                    poll_failing = false;
                }
            }
            Err(e) => {
                if !poll_failing {
                    tracing::error!("cannot read meta.generation: {e}");
                    poll_failing = true;
                }
            }
        }
        if let Ok((held, _, _)) = publish_state(&publisher.db).await {
            metrics.on_hold.set(i64::from(held));
        }
        if let Some(reason) = schedule.due(now) {
            schedule.started(now);
            let outcome = publish_once(&publisher, &metrics, reason).await;
            schedule.finished(outcome, Instant::now());
        }
        let wait = schedule.next_wake(Instant::now());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn timings() -> Timings {
        Timings {
            debounce: t(1000),
            max_delay: t(10_000),
            min_gap: t(5000),
            interval: t(600_000),
            poll_generation: t(250),
        }
    }

    #[test]
    fn publishes_at_startup_then_waits_for_a_change() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timings());
        s.observe(7, t0);
        assert_eq!(s.due(t0), Some(Reason::Startup));
        s.started(t0);
        s.finished(Outcome::Settled, t0 + t(100));
        s.observe(7, t0 + t(6000));
        assert_eq!(s.due(t0 + t(6000)), None, "same generation: nothing to do");
        assert_eq!(s.next_wake(t0 + t(6000)), t(250));
    }

    #[test]
    fn debounce_waits_for_quiet() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timings());
        s.observe(1, t0);
        s.started(t0);
        s.finished(Outcome::Settled, t0);
        let c = t0 + t(60_000);
        s.observe(2, c);
        assert!(s.pending());
        assert_eq!(s.due(c + t(999)), None);
        s.observe(3, c + t(500)); // a second change restarts the quiet period
        assert_eq!(s.due(c + t(1200)), None);
        assert_eq!(s.due(c + t(1500)), Some(Reason::Change));
        assert_eq!(s.next_wake(c + t(1400)), t(100));
    }

    #[test]
    fn max_delay_bounds_a_stream_of_changes() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timings());
        s.observe(1, t0);
        s.started(t0);
        s.finished(Outcome::Settled, t0);
        let c = t0 + t(60_000);
        for i in 0..40u64 {
            // a change every 300 ms: never 1 s of quiet
            s.observe(2 + i as i64, c + t(300 * i));
            if 300 * i < 10_000 {
                assert_eq!(s.due(c + t(300 * i)), None, "at {} ms", 300 * i);
            }
        }
        assert_eq!(s.due(c + t(10_000)), Some(Reason::Change));
    }

    #[test]
    fn min_gap_separates_builds() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timings());
        s.observe(1, t0);
        s.started(t0);
        s.finished(Outcome::Settled, t0 + t(200));
        s.observe(2, t0 + t(300));
        assert_eq!(s.due(t0 + t(1300)), None, "debounced but within min_gap");
        assert_eq!(s.next_wake(t0 + t(4900)), t(100));
        assert_eq!(s.due(t0 + t(5000)), Some(Reason::Change));
    }

    #[test]
    fn interval_publishes_without_changes() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timings());
        s.observe(1, t0);
        s.started(t0);
        s.finished(Outcome::Settled, t0);
        assert_eq!(s.due(t0 + t(599_999)), None);
        assert_eq!(s.due(t0 + t(600_000)), Some(Reason::Interval));
    }

    #[test]
    fn failures_back_off_doubling_to_five_minutes() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Timings {
            min_gap: t(0),
            interval: t(86_400_000),
            ..timings()
        });
        s.observe(1, t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            s.started(now);
            s.finished(Outcome::Failed, now);
            let mut probe = now;
            while s.due(probe).is_none() {
                probe += t(1000);
            }
            assert_eq!(s.due(probe), Some(Reason::Retry));
            waits.push((probe - now).as_secs());
            now = probe;
        }
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        s.started(now);
        s.finished(Outcome::Settled, now);
        s.started(now);
        s.finished(Outcome::Failed, now);
        assert_eq!(s.due(now + t(4999)), None, "a success resets the backoff");
        assert_eq!(s.due(now + t(5000)), Some(Reason::Retry));
    }
}
