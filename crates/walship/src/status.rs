//! The status page at `/`: one server-rendered HTML page, no script and no external asset, so
//! that it works offline and behind any proxy. It refreshes itself every few seconds with a
//! `<meta http-equiv="refresh">`.
//!
//! Every figure on it comes from the same counters as `/metrics`, or from the queue itself (the
//! samples the remote accepted, its last send error); the few that need history (samples per
//! second, when retries last grew) come from a [`History`] sampled in the background. Everything from configuration or the WAL is HTML-escaped: endpoint names, URLs
//! and error texts are user data.

use crate::endpoint::Endpoint;
use crate::time::span;
use std::collections::VecDeque;
use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// How often the history is sampled, and how much of it the chart shows: 15 minutes at 5 s.
pub const SAMPLE_EVERY_MS: i64 = 5_000;
const KEPT: usize = 180;

/// Within this long of a growing retry count, an endpoint shows as retrying (with several shards,
/// one shard's success does not end another's retries).
const RECENT_MS: i64 = 60_000;

/// One sample of an endpoint's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Point {
    at_ms: i64,
    /// Samples the remote accepted so far.
    accepted: u64,
    retried: u64,
    damage: u64,
    gaps: u64,
}

/// What an endpoint's counters did over the last minutes.
#[derive(Debug, Default)]
struct Track {
    points: VecDeque<Point>,
    /// When retries last grew, WAL damage was last found, a gap last seen.
    last_retry_ms: Option<i64>,
    last_damage_ms: Option<i64>,
    last_gap_ms: Option<i64>,
    /// When the queue was first seen stopped for good (credentials refused).
    stopped_ms: Option<i64>,
}

/// The history of every endpoint, in the order of the endpoints.
#[derive(Debug, Default)]
pub struct History(Mutex<Vec<Track>>);

impl History {
    /// Records the endpoints' counters as they are at `now_ms`.
    pub fn sample(&self, endpoints: &[Endpoint], now_ms: i64) {
        let Ok(mut tracks) = self.0.lock() else { return };
        tracks.resize_with(endpoints.len(), Track::default);
        for (e, t) in endpoints.iter().zip(tracks.iter_mut()) {
            let m = e.queue.metrics();
            let p = Point {
                at_ms: now_ms,
                accepted: m.samples_accepted,
                retried: m.samples_retried_total,
                damage: e.watcher.corruptions.load(Ordering::Relaxed),
                gaps: e.watcher.gaps.load(Ordering::Relaxed),
            };
            // The first sample has nothing to compare with: counters already above zero then
            // (damage found while starting) grew just now, as far as anyone watching knows.
            let before = t.points.back().copied().unwrap_or(Point { at_ms: now_ms, ..Default::default() });
            if p.retried > before.retried {
                t.last_retry_ms = Some(now_ms);
            }
            if p.damage > before.damage {
                t.last_damage_ms = Some(now_ms);
            }
            if p.gaps > before.gaps {
                t.last_gap_ms = Some(now_ms);
            }
            if e.queue.fatal_error().is_some() && t.stopped_ms.is_none() {
                t.stopped_ms = Some(now_ms);
            }
            if t.points.len() == KEPT {
                t.points.pop_front();
            }
            t.points.push_back(p);
        }
    }
}

/// Text made safe for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How an endpoint is doing, in the words of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Reading the newest segment and delivering.
    Shipping,
    /// Reading segments older than the newest: a backlog.
    CatchingUp,
    /// The last send attempt failed and its data is retried (5xx, 429, the remote unreachable),
    /// or retries grew within the last minute.
    Retrying,
    /// The queue stopped for good (credentials refused).
    Stopped,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Shipping => "shipping",
            State::CatchingUp => "catching up",
            State::Retrying => "retrying",
            State::Stopped => "stopped",
        }
    }
}

/// The WAL directory as it is now.
struct WalView {
    segments: Vec<(u64, u64)>,
    checkpoint: Option<u64>,
    error: Option<String>,
}

fn wal_view(dir: &Path) -> WalView {
    let wal = wal_reader::resolve_wal_dir(dir);
    let mut view = WalView { segments: Vec::new(), checkpoint: None, error: None };
    match wal_reader::list_segments(&wal) {
        Ok(segs) => {
            view.segments = segs.iter().map(|s| (s.index, std::fs::metadata(&s.path).map_or(0, |m| m.len()))).collect();
        }
        Err(e) => view.error = Some(e.to_string()),
    }
    match wal_reader::last_checkpoint(&wal) {
        Ok(cp) => view.checkpoint = cp.map(|c| c.index),
        Err(e) => view.error = Some(e.to_string()),
    }
    view
}

fn when(ms: Option<i64>, now_ms: i64) -> String {
    match ms {
        Some(t) => format!("{} ({} ago)", crate::time::rfc3339(t), ago(now_ms - t)),
        None => "never".into(),
    }
}

fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

fn bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n as f64 >= MIB {
        format!("{:.1} MiB", n as f64 / MIB)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// Samples per second between consecutive points.
fn rates(points: &VecDeque<Point>) -> Vec<(i64, f64)> {
    points
        .iter()
        .zip(points.iter().skip(1))
        .filter(|(a, b)| b.at_ms > a.at_ms)
        .map(|(a, b)| (b.at_ms, b.accepted.saturating_sub(a.accepted) as f64 * 1000.0 / (b.at_ms - a.at_ms) as f64))
        .collect()
}

/// An inline SVG line chart of samples per second over the kept window, newest at the right.
fn chart(rates: &[(i64, f64)], now_ms: i64) -> String {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let window = SAMPLE_EVERY_MS * KEPT as i64;
    let max = rates.iter().map(|r| r.1).fold(0.0f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"samples per second, last 15 minutes\">\
         <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#fafafa\" stroke=\"#ccc\"/>"
    );
    if rates.is_empty() {
        let _ = write!(svg, "<text x=\"10\" y=\"{}\" fill=\"#888\">no data yet (one point every 5 s)</text>", H / 2.0);
    } else {
        let pts: Vec<String> = rates
            .iter()
            .map(|(t, r)| {
                let x = W - (now_ms - t).clamp(0, window) as f64 * W / window as f64;
                let y = H - r / top * (H - 14.0);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ =
            write!(svg, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/>", pts.join(" "));
    }
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"12\" font-size=\"11\" fill=\"#555\">{:.0}/s</text>\
         <text x=\"4\" y=\"{}\" font-size=\"11\" fill=\"#555\">−15 min</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#555\" text-anchor=\"end\">now</text></svg>",
        top,
        H - 4.0,
        W - 4.0,
        H - 4.0
    );
    svg
}

/// The whole page.
pub fn render(endpoints: &[Endpoint], history: &History, wal_dir: &Path, now_ms: i64) -> String {
    let wal = wal_view(wal_dir);
    let newest_segment = wal.segments.last().map(|s| s.0);
    let tracks = history.0.lock().ok();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"10\"><title>walship status</title><style>{CSS}</style></head><body>\
         <h1>walship</h1><p class=\"meta\">version {} · page made {} · refreshes every 10 s · <a href=\"/metrics\">/metrics</a></p>",
        env!("CARGO_PKG_VERSION"),
        crate::time::rfc3339(now_ms)
    );
    for (i, e) in endpoints.iter().enumerate() {
        let m = e.queue.metrics();
        let w = &e.watcher;
        let track = tracks.as_ref().and_then(|t| t.get(i));
        let reading = w.current_segment.load(Ordering::Relaxed);
        let fatal = e.queue.fatal_error();
        let last_error = e.queue.last_error();
        let retrying_now = last_error.as_ref().is_some_and(|l| l.retrying && l.recovered_ms.is_none());
        let retried_lately = track.and_then(|t| t.last_retry_ms).is_some_and(|t| now_ms - t <= RECENT_MS);
        let state = if fatal.is_some() {
            State::Stopped
        } else if retrying_now || retried_lately {
            State::Retrying
        } else if newest_segment.is_some_and(|n| reading < n) {
            State::CatchingUp
        } else {
            State::Shipping
        };
        let newest = w.newest_timestamp_ms.load(Ordering::Relaxed);
        let lag = if newest > 0 { span(now_ms - newest) } else { "–".into() };
        let cursor = e.queue.low_watermark();
        let saved = e.cursor_saved_ms.load(Ordering::Relaxed);
        let sent_ts = m.queue_highest_sent_timestamp_seconds;
        let rates = track.map(|t| rates(&t.points)).unwrap_or_default();
        let (error, error_when) = match (&fatal, &last_error) {
            (Some(why), _) => (
                escape(why),
                format!(
                    "stopped {}: the remote refused the credentials",
                    when(track.and_then(|t| t.stopped_ms), now_ms)
                ),
            ),
            (None, Some(l)) => {
                let fate = if l.retrying { "its data is being retried" } else { "its data was dropped" };
                let mut text = format!(
                    "{}, {fate}; failing since {}",
                    when(Some(l.at_ms), now_ms),
                    when(Some(l.since_ms), now_ms)
                );
                if let Some(t) = l.recovered_ms {
                    let _ = write!(text, "; sending works again since {}", when(Some(t), now_ms));
                }
                (escape(&l.message), text)
            }
            (None, None) => ("none".into(), "–".into()),
        };
        let _ = write!(
            out,
            "<section class=\"endpoint\"><h2>{name} <span class=\"state {class}\" data-check=\"state\">{state}</span></h2>\
             <table>\
             <tr><th>URL</th><td data-check=\"url\">{url}</td></tr>\
             <tr><th>last error</th><td data-check=\"error\">{error}</td></tr>\
             <tr><th>last error at</th><td data-check=\"error_when\">{error_when}</td></tr>\
             <tr><th>samples retried / failed</th><td><span data-check=\"retried\">{retried}</span> / <span data-check=\"failed\">{failed}</span></td></tr>\
             <tr><th>lag (newest sample read)</th><td data-check=\"lag\">{lag}</td></tr>\
             <tr><th>samples delivered</th><td data-check=\"delivered\">{delivered}</td></tr>\
             <tr><th>shards (current / desired / max)</th><td><span data-check=\"shards\">{shards}</span> / <span data-check=\"shards_desired\">{desired:.1}</span> / <span data-check=\"shards_max\">{max}</span></td></tr>\
             <tr><th>pending samples</th><td data-check=\"pending\">{pending}</td></tr>\
             <tr><th>cursor (acknowledged)</th><td><span data-check=\"cursor\">{cursor}</span>; newest sample sent: {sent}</td></tr>\
             <tr><th>cursor last saved</th><td data-check=\"saved\">{saved}</td></tr>\
             <tr><th>cursor saves failed</th><td data-check=\"save_failures\">{save_failures}</td></tr>\
             </table><h3>samples per second delivered, last 15 minutes</h3>{chart}</section>",
            name = escape(&e.key),
            class = state.word().replace(' ', "-"),
            state = state.word(),
            url = escape(&e.url),
            delivered = m.samples_accepted,
            retried = m.samples_retried_total,
            failed = m.samples_failed_total,
            shards = m.shards,
            desired = m.shards_desired,
            max = e.max_shards,
            pending = m.samples_pending,
            cursor = cursor.map_or("none yet".to_string(), |p| format!("{:08}:{}", p.segment, p.offset)),
            sent = if sent_ts > 0 { crate::time::rfc3339(sent_ts * 1000) } else { "unknown".into() },
            saved = if saved > 0 { when(Some(saved), now_ms) } else { "not in this run".into() },
            save_failures = e.cursor_save_failures.load(Ordering::Relaxed),
            chart = chart(&rates, now_ms),
        );
    }
    render_wal(&mut out, endpoints, tracks.as_deref().map(Vec::as_slice), &wal, wal_dir, now_ms);
    out.push_str("</body></html>\n");
    out
}

fn render_wal(
    out: &mut String,
    endpoints: &[Endpoint],
    tracks: Option<&[Track]>,
    wal: &WalView,
    dir: &Path,
    now_ms: i64,
) {
    let segs = match (wal.segments.first(), wal.segments.last()) {
        (Some(first), Some(last)) => format!(
            "{} ({:08} … {:08}, {})",
            wal.segments.len(),
            first.0,
            last.0,
            bytes(wal.segments.iter().map(|s| s.1).sum())
        ),
        _ => "none".into(),
    };
    let _ = write!(
        out,
        "<section class=\"wal\"><h2>WAL</h2><table>\
         <tr><th>directory</th><td>{dir}</td></tr>\
         <tr><th>segments</th><td data-check=\"segments\">{segs}</td></tr>\
         <tr><th>checkpoint</th><td data-check=\"checkpoint\">{cp}</td></tr>",
        dir = escape(&dir.display().to_string()),
        cp = wal.checkpoint.map_or("none".to_string(), |c| format!("checkpoint.{c:08}")),
    );
    if let Some(e) = &wal.error {
        let _ = write!(out, "<tr><th>cannot list</th><td class=\"bad\">{}</td></tr>", escape(e));
    }
    let _ = write!(out, "</table><table><tr><th>endpoint</th><th>segment being read</th><th>damaged spans</th><th>bytes skipped</th><th>records lost</th><th>last damage</th><th>gaps</th><th>last gap</th></tr>");
    for (i, e) in endpoints.iter().enumerate() {
        let w = &e.watcher;
        let track = tracks.and_then(|t| t.get(i));
        let damage = w.corruptions.load(Ordering::Relaxed);
        let gaps = w.gaps.load(Ordering::Relaxed);
        let _ = write!(
            out,
            "<tr><td>{}</td><td data-check=\"reading\">{:08}</td><td data-check=\"damage\" class=\"{}\">{damage}</td><td>{}</td><td>{}</td><td>{}</td><td data-check=\"gaps\" class=\"{}\">{gaps}</td><td>{}</td></tr>",
            escape(&e.key),
            w.current_segment.load(Ordering::Relaxed),
            if damage > 0 { "bad" } else { "" },
            w.bytes_skipped.load(Ordering::Relaxed),
            w.records_lost.load(Ordering::Relaxed),
            when(track.and_then(|t| t.last_damage_ms), now_ms),
            if gaps > 0 { "bad" } else { "" },
            when(track.and_then(|t| t.last_gap_ms), now_ms),
        );
    }
    out.push_str("</table><p class=\"meta\">Damaged spans and gaps are logged with their file, offset and cost; see docs/operations.md.</p></section>");
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:60em}\
h1{margin:0}h2{margin:1.2em 0 .4em}h3{font-size:1em;font-weight:normal;color:#555}\
table{border-collapse:collapse;margin:.4em 0}th,td{text-align:left;padding:.2em .8em .2em 0;vertical-align:top}\
th{font-weight:normal;color:#555}.meta{color:#777;font-size:.9em}\
.state{font-size:.7em;padding:.1em .5em;border-radius:.3em;color:#fff;vertical-align:middle}\
.shipping{background:#2a7d2a}.catching-up{background:#b07d00}.retrying{background:#c0392b}.stopped{background:#555}\
.bad{color:#c0392b;font-weight:bold}section{border-top:1px solid #ddd}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<img src=x onerror="a('b')">&"#),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
        assert_eq!(escape("plain 123"), "plain 123");
    }

    #[test]
    fn rates_are_per_second_between_points() {
        let p = |at_ms, accepted| Point { at_ms, accepted, ..Default::default() };
        let points: VecDeque<Point> = [p(0, 0), p(5_000, 500), p(10_000, 500)].into();
        assert_eq!(rates(&points), vec![(5_000, 100.0), (10_000, 0.0)]);
    }

    #[test]
    fn chart_places_newest_at_the_right() {
        let svg = chart(&[(1_000_000, 50.0)], 1_000_000);
        assert!(svg.contains("points=\"600.0,"), "{svg}");
        assert!(chart(&[], 0).contains("no data yet"));
    }

    #[test]
    fn ages_read_well() {
        assert_eq!((ago(5_000), ago(600_000), ago(7_200_000)), ("5s".into(), "10m".into(), "2h".into()));
        assert_eq!(
            (span(1_500), span(600_000), span(588_416_900)),
            ("1.5 s".into(), "10.0 min".into(), "6.8 days".into())
        );
    }
}
