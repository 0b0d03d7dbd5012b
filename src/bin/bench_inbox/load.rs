//! The load generator: signed deliveries of unique events, driven closed-loop (N clients, each sending
//! its next request when the previous one answered) or open-loop (a fixed timetable, latency measured
//! from each scheduled send time so a stall cannot hide behind the clients waiting for it).

use std::sync::Arc;
use std::time::Duration;

use dunning::providers::stripe::signature;
use tokio::time::Instant;

/// The fixture every delivery is built from; only its `id` changes.
const FIXTURE: &str = include_str!("../../../fixtures/stripe/invoice.payment_failed.json");
const FIXTURE_ID: &str = "evt_1R3xZ3PgT2m9Xw0aHf6Jk9Lm";
/// Each delivery is about its own invoice, as in production (one case per invoice).
const FIXTURE_INVOICE: &str = "in_1R3xYzPgT2m9Xw0aB1cD2eF3";

/// Builds delivery bodies of exactly the fixture's size with a fresh event and invoice id.
#[derive(Clone)]
pub struct Bodies {
    prefix: Arc<str>,
    suffix: Arc<str>,
}

impl Bodies {
    pub fn new() -> Self {
        let (prefix, suffix) = FIXTURE
            .split_once(FIXTURE_ID)
            .expect("the fixture contains its event id");
        Bodies {
            prefix: prefix.into(),
            suffix: suffix.into(),
        }
    }

    /// A realistic `invoice.payment_failed` event with a unique id of the same length as Stripe's.
    pub fn fresh(&self) -> String {
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("evt_{}", &uuid[..FIXTURE_ID.len() - 4]);
        let mut s = String::with_capacity(self.prefix.len() + id.len() + self.suffix.len());
        s.push_str(&self.prefix);
        s.push_str(&id);
        s.push_str(&self.suffix);
        let invoice = format!("in_{}", &uuid[..FIXTURE_INVOICE.len() - 3]);
        s.replace(FIXTURE_INVOICE, &invoice)
    }

    pub fn size(&self) -> usize {
        FIXTURE.len()
    }
}

/// Sends one signed delivery per call to a webhook URL over a shared keep-alive client.
pub struct Deliverer {
    pub client: reqwest::Client,
    pub url: String,
    pub secret: String,
    pub bodies: Bodies,
}

/// What one request came back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: 201 for a new event.
    Accepted,
    /// 200 with `duplicate: true` would land here too; unique ids should never produce it.
    Other2xx,
    Status(u16),
    Transport,
}

impl Outcome {
    pub fn is_2xx(self) -> bool {
        matches!(self, Outcome::Accepted | Outcome::Other2xx)
    }
}

impl Deliverer {
    pub fn new(url: String, secret: &str) -> Self {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        Deliverer {
            client,
            url,
            secret: secret.to_string(),
            bodies: Bodies::new(),
        }
    }

    pub async fn send(&self) -> Outcome {
        let body = self.bodies.fresh();
        let header = signature::sign(
            body.as_bytes(),
            self.secret.as_bytes(),
            chrono::Utc::now().timestamp(),
        );
        let sent = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(signature::HEADER, header)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                // Read the answer fully so the connection goes back to the pool.
                let _ = r.bytes().await;
                match status {
                    201 => Outcome::Accepted,
                    200..=299 => Outcome::Other2xx,
                    s => Outcome::Status(s),
                }
            }
            Err(_) => Outcome::Transport,
        }
    }
}

/// One completed operation: when it started (or was scheduled), when it finished, how it went.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub start: Instant,
    pub done: Instant,
    pub outcome: Outcome,
}

/// Totals and percentiles over the measured window of a run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Successful completions within the window, per second.
    pub per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Operations counted in the window.
    pub measured: usize,
    /// Failures (non-2xx, transport errors) in the window.
    pub errors: usize,
    /// 2xx answers over the whole run, warm-up included (what the store must hold).
    pub total_2xx: usize,
    /// 2xx answers that were not 201 (duplicates), over the whole run.
    pub non_201: usize,
    /// Failures over the whole run, and the first few kinds seen.
    pub total_errors: usize,
    pub error_kinds: Vec<Outcome>,
}

/// Nearest-rank percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Closed loop: throughput counts completions inside the window; latency is over requests that started
/// inside it.
pub fn summarize_closed(samples: &[Sample], from: Instant, to: Instant) -> Stats {
    let mut s = totals(samples);
    let mut lat = Vec::new();
    let mut ok_in_window = 0usize;
    for x in samples {
        let inside = x.done >= from && x.done <= to;
        if inside && x.outcome.is_2xx() {
            ok_in_window += 1;
        }
        if inside && !x.outcome.is_2xx() {
            s.errors += 1;
        }
        if x.start >= from && x.done <= to && x.outcome.is_2xx() {
            lat.push(x.done - x.start);
        }
    }
    lat.sort_unstable();
    s.per_sec = ok_in_window as f64 / (to - from).as_secs_f64();
    s.measured = lat.len();
    s.p50 = percentile(&lat, 50.0);
    s.p99 = percentile(&lat, 99.0);
    s.max = lat.last().copied().unwrap_or_default();
    s
}

/// Open loop: every request scheduled inside the window counts, failures included in the latency
/// (a failed request took at least that long to tell us).
pub fn summarize_open(samples: &[Sample], from: Instant) -> Stats {
    let mut s = totals(samples);
    let mut lat = Vec::new();
    for x in samples.iter().filter(|x| x.start >= from) {
        if !x.outcome.is_2xx() {
            s.errors += 1;
        }
        lat.push(x.done - x.start);
    }
    lat.sort_unstable();
    s.measured = lat.len();
    s.p50 = percentile(&lat, 50.0);
    s.p99 = percentile(&lat, 99.0);
    s.max = lat.last().copied().unwrap_or_default();
    s
}

fn totals(samples: &[Sample]) -> Stats {
    let mut s = Stats::default();
    for x in samples {
        match x.outcome {
            Outcome::Accepted => s.total_2xx += 1,
            Outcome::Other2xx => {
                s.total_2xx += 1;
                s.non_201 += 1;
            }
            o => {
                s.total_errors += 1;
                if s.error_kinds.len() < 5 && !s.error_kinds.contains(&o) {
                    s.error_kinds.push(o);
                }
            }
        }
    }
    s
}

/// Runs `op` from `concurrency` tasks until `warmup + measure` has passed; returns the window's stats.
pub async fn closed_loop<F, Fut>(
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    op: F,
) -> Stats
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let start = Instant::now();
    let from = start + warmup;
    let to = from + measure;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while Instant::now() < to {
                let t = Instant::now();
                let outcome = op().await;
                out.push(Sample {
                    start: t,
                    done: Instant::now(),
                    outcome,
                });
            }
            out
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.expect("load task"));
    }
    summarize_closed(&samples, from, to)
}

/// Sends at `rate` per second on a fixed timetable for `warmup + measure`; each request is its own task,
/// so a slow answer never delays the next send, and latency runs from the scheduled send time.
pub async fn open_loop(d: Arc<Deliverer>, rate: u32, warmup: Duration, measure: Duration) -> Stats {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let total = ((warmup + measure).as_secs_f64() * f64::from(rate)).round() as u32;
    let t0 = Instant::now() + Duration::from_millis(10);
    let from = t0 + warmup;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = t0 + interval * i;
        tokio::time::sleep_until(scheduled).await;
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = d.send().await;
            Sample {
                start: scheduled,
                done: Instant::now(),
                outcome,
            }
        }));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for t in tasks {
        samples.push(t.await.expect("open-loop task"));
    }
    summarize_open(&samples, from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }

    #[test]
    fn bodies_keep_the_fixture_size_and_differ() {
        let b = Bodies::new();
        let (x, y) = (b.fresh(), b.fresh());
        assert_eq!(x.len(), b.size());
        assert_ne!(x, y);
        let v: serde_json::Value = serde_json::from_str(&x).unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("evt_"));
    }
}
