//! `ship --start=oldest` and gap fill: what Prometheus's persisted blocks hold arrives, checked
//! against what `promtool tsdb dump` (Prometheus 2.42) read from the same data directories
//! (`EXPECTED.json` beside each fixture), through a `walship receive --print` receiver.

mod common;

use common::*;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap().success();
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

fn expected(fixture: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(testdata().join(fixture).join("EXPECTED.json")).unwrap()).unwrap()
}

fn ship(data: &Path, state: &Path, url: &str, extra: &[&str]) -> Command {
    let mut c = walship();
    c.args(["ship", "--once", "--web.listen-address=", "--cursor.save-interval=100ms"])
        .arg("--wal-dir")
        .arg(data)
        .arg(format!("--url={url}"))
        .arg("--state-dir")
        .arg(state)
        .args(extra);
    c
}

fn run(c: &mut Command) -> Output {
    let out = c.output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn metric_name(labels: &str) -> String {
    labels.split("__name__=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_string()
}

/// What arrived, in the terms of EXPECTED.json: distinct series, distinct (series, timestamp)
/// pairs, the sum of their timestamps mod 2^64 and their count per metric name.
struct Arrived {
    series: usize,
    samples: usize,
    sum_t: u64,
    per_metric: BTreeMap<String, u64>,
    received: usize,
}

fn arrived(lines: &[(String, i64, u64)], min_t: i64) -> Arrived {
    let mut seen = HashSet::new();
    let mut series = HashSet::new();
    let mut sum_t = 0u64;
    let mut per_metric = BTreeMap::new();
    for (labels, t, _) in lines.iter().filter(|l| l.1 >= min_t) {
        if seen.insert((labels.clone(), *t)) {
            series.insert(labels.clone());
            sum_t = sum_t.wrapping_add(*t as u64);
            *per_metric.entry(metric_name(labels)).or_default() += 1;
        }
    }
    Arrived { series: series.len(), samples: seen.len(), sum_t, per_metric, received: lines.len() }
}

fn assert_all_arrived(got: &Arrived, want: &serde_json::Value) {
    assert_eq!(got.series as u64, want["series"].as_u64().unwrap(), "series");
    assert_eq!(got.samples as u64, want["samples"].as_u64().unwrap(), "distinct (series, t)");
    assert_eq!(got.sum_t, want["sum_t"].as_u64().unwrap(), "sum of timestamps");
    let per: BTreeMap<String, u64> =
        want["per_metric"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
    assert_eq!(got.per_metric, per, "samples per metric");
}

/// Ships the data directory of `fixture` with `--start=oldest` and checks that every sample it
/// holds arrived, none twice; returns walship's log.
fn ship_oldest(fixture: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&testdata().join(fixture).join("data"), &data);
    let rx = Printer::start();
    let out = run(&mut ship(&data, &tmp.path().join("state"), &rx.url(), &["--start=oldest"]));
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let got = arrived(&without_resent(rx.finish(), &log), i64::MIN);
    assert_all_arrived(&got, &expected(fixture));
    assert_eq!(got.received, got.samples, "samples sent twice\n{log}");
    log
}

#[test]
fn oldest_ships_every_sample_of_blocks_and_wal_once() {
    // The blocks stop where the WAL takes over: nothing is sent twice.
    let log = ship_oldest("prometheus-2.42-blocks");
    assert!(log.contains("Persisted blocks shipped; the WAL takes over"), "{log}");
}

#[test]
fn oldest_leaves_out_what_tombstones_deleted() {
    ship_oldest("prometheus-2.42-tombstones");
}

/// The cursor file of the only endpoint in `state`.
fn cursor(state: &Path) -> Option<serde_json::Value> {
    let entry = std::fs::read_dir(state).ok()?.flatten().find(|e| {
        let n = e.file_name();
        let n = n.to_string_lossy();
        n.starts_with("cursor-") && n.ends_with(".json")
    })?;
    serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok()
}

#[test]
fn sigkill_during_the_block_phase_resumes_where_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&testdata().join("prometheus-2.42-blocks/data"), &data);
    let state = tmp.path().join("state");
    let rx = Printer::start();
    // Small requests through one shard: slow enough to be killed in the middle of the blocks.
    let slow = [
        "--start=oldest",
        "--queue.min-shards=1",
        "--queue.max-shards=1",
        "--queue.capacity=200",
        "--queue.max-samples-per-send=20",
    ];
    let child = ship(&data, &state, &rx.url(), &slow).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut child = Killed(child);
    // Kill once the cursor stands 200 series into the second window or later.
    let deadline = Instant::now() + Duration::from_secs(120);
    let at_kill = loop {
        assert!(Instant::now() < deadline, "the block phase never got far enough");
        assert!(child.0.try_wait().unwrap().is_none(), "walship finished before it could be killed");
        if let Some(c) = cursor(&state) {
            let h = &c["history"];
            if h["from_ms"].as_i64().is_some_and(|t| t > 1_796_113_260_000)
                && h["next_series"].as_u64().is_some_and(|n| n >= 200)
            {
                child.0.kill().unwrap();
                child.0.wait().unwrap();
                break cursor(&state).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(at_kill["history"].is_object(), "killed in the block phase: {at_kill}");
    let before = rx.lines.lock().unwrap().len();
    assert!(before < 566_173, "everything arrived before the kill");
    let out = run(&mut ship(&data, &state, &rx.url(), &["--start=oldest"]));
    assert_eq!(out.status.code(), Some(0));
    let lines = rx.finish();
    let got = arrived(&lines, i64::MIN);
    assert_all_arrived(&got, &expected("prometheus-2.42-blocks"));
    // Nothing before the cursor's window was sent again, nor the series of the window the cursor
    // counted as acknowledged (200 or more, of 60 samples each): what was sent again is less
    // than what the first run delivered from the window's start on.
    let window = at_kill["history"]["from_ms"].as_i64().unwrap();
    let resent_before_window = lines[before..].iter().filter(|l| l.1 < window).count();
    assert_eq!(resent_before_window, 0, "killed at {at_kill}");
    let first_run_in_window = lines[..before].iter().filter(|l| l.1 >= window).count();
    let again = got.received - got.samples;
    eprintln!("sent again: {again} of the {first_run_in_window} the first run sent from the cursor's window on");
    assert!(again + 200 * 60 <= first_run_in_window, "{again} samples sent twice (killed at {at_kill})");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Resuming from saved cursor"), "{log}");
}

/// The FNV-1a name walship gives the cursor of an endpoint without a name.
fn endpoint_key(url: &str) -> String {
    let h = url.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    format!("{h:016x}")
}

/// A copy of the blocks fixture in `tmp` (its `data/`), a receiver, and a state directory (its
/// `state/`) whose cursor for the receiver's (unnamed) endpoint is `cursor`.
fn blocks_with_cursor(tmp: &Path, cursor: serde_json::Value) -> (PathBuf, PathBuf, Printer) {
    let data = tmp.join("data");
    copy_dir(&testdata().join("prometheus-2.42-blocks/data"), &data);
    let state = tmp.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let rx = Printer::start();
    std::fs::write(state.join(format!("cursor-{}.json", endpoint_key(&rx.url()))), cursor.to_string()).unwrap();
    (data, state, rx)
}

#[test]
fn a_cursor_in_deleted_segments_is_filled_from_the_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    // The fixture's WAL lost segments 0 and 1 to head truncations (checkpoint.00000001 kept
    // what of them was not yet in blocks). A walship stopped in segment 1, having delivered
    // everything before the third block's time range, left this cursor.
    let third_block_start = 1_796_113_320_000i64;
    let cursor = serde_json::json!({"segment": 1, "offset": 0, "acked_ms": third_block_start});
    let (data, state, rx) = blocks_with_cursor(tmp.path(), cursor);
    let out = run(&mut ship(&data, &state, &rx.url(), &["--gap-fill.margin=0s"]));
    // Nothing is lost: exit 0, not 2.
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    let gap_line = log.lines().find(|l| l.contains("WAL segments missing")).expect("a gap line");
    assert!(gap_line.contains("01M8RB7ARATAD2G596FC7TY5Q6,01M8RB95BM1GW3F630835WP2XZ"), "{gap_line}");
    assert!(gap_line.contains("nothing lost"), "{gap_line}");
    assert!(gap_line.contains(&format!("filled_from_ms={third_block_start}")), "{gap_line}");
    // Every sample from the cursor's time on arrived: the third and fourth blocks (their
    // numSamples as Prometheus wrote them) and the head (promtool's total less every block's).
    let want = expected("prometheus-2.42-blocks");
    let blocks: Vec<u64> =
        want["blocks"].as_array().unwrap().iter().map(|b| b["numSamples"].as_u64().unwrap()).collect();
    let head = want["samples"].as_u64().unwrap() - blocks.iter().sum::<u64>();
    let got = arrived(&rx.finish(), third_block_start);
    assert_eq!(got.samples as u64, blocks[2] + blocks[3] + head);
}

#[test]
fn old_cursors_still_resume() {
    let tmp = tempfile::tempdir().unwrap();
    // A cursor of an earlier walship at the start of segment 4: only that segment is sent.
    let old =
        serde_json::json!({"segment": 4, "offset": 0, "endpoint": "x", "url": "y", "saved_at": "2026-11-26T10:00:00Z"});
    let (data, state, rx) = blocks_with_cursor(tmp.path(), old);
    let out = run(&mut ship(&data, &state, &rx.url(), &["--start=oldest"]));
    assert_eq!(out.status.code(), Some(0));
    let lines = rx.finish();
    assert!(!lines.is_empty() && lines.len() < 328_044, "{} samples", lines.len());
    let saved = cursor(&state).unwrap();
    assert_eq!(saved["segment"], 4, "{saved}");
    assert!(saved["acked_ms"].as_i64().is_some(), "{saved}");
}

#[test]
fn inspect_lists_the_blocks_beside_the_wal() {
    let want = expected("prometheus-2.42-blocks");
    let out = walship()
        .args(["inspect", "--format", "json"])
        .arg(testdata().join("prometheus-2.42-blocks/data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocks = got["blocks"].as_array().unwrap();
    let want_blocks = want["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), want_blocks.len());
    for (b, w) in blocks.iter().zip(want_blocks) {
        assert_eq!(b["ulid"], w["ulid"]);
        assert_eq!((&b["min_time"], &b["max_time"]), (&w["min_time"], &w["max_time"]));
        assert_eq!(b["series"], w["numSeries"]);
        assert_eq!(b["samples"], w["numSamples"]);
        assert_eq!(b["chunks"]["XOR"], w["numChunks"]);
    }
    // The WAL is summarised as before, beside them.
    assert_eq!(got["checkpoint"], "checkpoint.00000001");
    let text = walship().arg("inspect").arg(testdata().join("prometheus-2.42-tombstones/data")).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("01M8REYBCRG9CX98Q3ZJYHX2AC [1796117220353, 1796117280000) level 1: 628 series"), "{text}");
    assert!(text.contains("chunks: 628 XOR; 51 series with tombstones"), "{text}");
}

#[test]
fn dump_blocks_prints_what_promtool_read() {
    let want = expected("prometheus-2.42-tombstones");
    let out = walship()
        .args(["dump", "--blocks", "--format", "jsonl"])
        .arg(testdata().join("prometheus-2.42-tombstones/data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut labels = std::collections::HashMap::new();
    let mut lines = Vec::new();
    for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        let block = v["block"].as_str().unwrap().to_string();
        match v["type"].as_str().unwrap() {
            "series" => {
                for s in v["series"].as_array().unwrap() {
                    labels.insert((block.clone(), s["ref"].as_u64().unwrap()), s["labels"].to_string());
                }
            }
            "samples" => {
                for s in v["samples"].as_array().unwrap() {
                    let l = labels[&(block.clone(), s["ref"].as_u64().unwrap())].clone();
                    lines.push((l, s["t"].as_i64().unwrap(), 0));
                }
            }
            other => panic!("unexpected {other}"),
        }
    }
    let got = arrived(&lines, i64::MIN);
    assert_eq!(got.series as u64, want["series"].as_u64().unwrap());
    assert_eq!(got.samples as u64, want["samples"].as_u64().unwrap());
    assert_eq!(got.sum_t, want["sum_t"].as_u64().unwrap());
    // One block, one series, a time range.
    let one = walship()
        .args(["dump", "--block", "01M8REYBCRG9CX98Q3ZJYHX2AC", "--match", "{__name__=\"up\",job=\"prometheus\"}"])
        .args(["--min-time", "1796117230000", "--max-time", "1796117239999"])
        .arg(testdata().join("prometheus-2.42-tombstones/data"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(text.contains("01M8REYBCRG9CX98Q3ZJYHX2AC samples (10 entries)"), "{text}");
    let bad = walship()
        .args(["dump", "--block", "01M8REYBCRG9CX98Q3ZJYHX2AD"])
        .arg(testdata().join("prometheus-2.42-tombstones/data"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn overlapping_blocks_are_merged_each_sample_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&testdata().join("prometheus-2.42-blocks/data"), &data);
    // A copy of the third block under another ULID (as a backfill or a restored backup leaves
    // one): it overlaps the original completely, and Prometheus reads each sample once.
    let (orig, twin) = ("01M8RB7ARATAD2G596FC7TY5Q6", "01M8RB7ARATAD2G596FC7TY5Q7");
    copy_dir(&data.join(orig), &data.join(twin));
    let meta = std::fs::read_to_string(data.join(twin).join("meta.json")).unwrap();
    std::fs::write(data.join(twin).join("meta.json"), meta.replace(orig, twin)).unwrap();
    let rx = Printer::start();
    let out = run(&mut ship(&data, &tmp.path().join("state"), &rx.url(), &["--start=oldest"]));
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    let got = arrived(&without_resent(rx.finish(), &log), i64::MIN);
    assert_all_arrived(&got, &expected("prometheus-2.42-blocks"));
    assert_eq!(got.received, got.samples, "samples sent twice\n{log}");
}

/// n, and the count the target served for it, of a histogram of the native-histograms fixture
/// (formulas in its README), from its labels and sum.
fn served_count(name: &str, variant: u64, sum: f64) -> (u64, u64) {
    let n = (sum / 1.25).round() as u64;
    let v = variant;
    let count = match name {
        "nh_requests_seconds" => {
            let positive: u64 = (0..5).map(|j| n * (j + 1) + (n / 3) * j + v).sum();
            let negative: u64 = (0..2).map(|j| n * (2 - j) + v).sum();
            n / 2 + positive + negative
        }
        _ => (n + v) + 2 * n + if n >= 60 { n - 59 } else { 0 },
    };
    (n, count)
}

#[test]
fn native_histograms_from_blocks_reach_a_prometheus_receiver() {
    if !have("prometheus") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&testdata().join("prometheus-2.42-native-histograms/data"), &data);
    let port = free_port();
    std::fs::write(tmp.path().join("rx.yml"), "global: {scrape_interval: 1m}\n").unwrap();
    let _rx = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", tmp.path().join("rx.yml").display()))
            .arg(format!("--storage.tsdb.path={}", tmp.path().join("rx").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--web.enable-remote-write-receiver", "--enable-feature=native-histograms"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("Prometheus", 30, || http(port, "GET", "/-/ready").is_some_and(|r| r.0 == 200));
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let out = run(&mut ship(&data, &tmp.path().join("state"), &url, &["--start=oldest", "--send-native-histograms"]));
    assert_eq!(out.status.code(), Some(0));
    // What the blocks hold, per histogram series, as `dump --blocks` reads them.
    let dump = walship().args(["dump", "--blocks", "--format", "jsonl"]).arg(&data).output().unwrap();
    let mut names = std::collections::HashMap::new();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for line in dump.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        let block = v["block"].as_str().unwrap().to_string();
        match v["type"].as_str().unwrap() {
            "series" => {
                let s = &v["series"][0];
                let l = &s["labels"];
                let key = format!("{}/{}", l["__name__"].as_str().unwrap(), l["variant"].as_str().unwrap_or(""));
                names.insert((block, s["ref"].as_u64().unwrap()), key);
            }
            "histogram_samples" => {
                let n = v["histogram_samples"].as_array().unwrap();
                let key = names[&(block, n[0]["ref"].as_u64().unwrap())].clone();
                *want.entry(key).or_default() += n.len() as u64;
            }
            _ => {}
        }
    }
    assert_eq!(want.len(), 4, "{want:?}");
    // What the receiver holds.
    let q = "/api/v1/query?query=%7B__name__%3D~%22nh_.%2A%22%7D%5B1h%5D&time=1796117700";
    let (code, body) = http(port, "GET", q).expect("query");
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for r in v["data"]["result"].as_array().unwrap() {
        let name = r["metric"]["__name__"].as_str().unwrap();
        let variant: u64 = r["metric"]["variant"].as_str().unwrap().parse().unwrap();
        let mut ns = Vec::new();
        for h in r["histograms"].as_array().unwrap() {
            let sum: f64 = h[1]["sum"].as_str().unwrap().parse().unwrap();
            let count: u64 = h[1]["count"].as_str().unwrap().parse().unwrap();
            let (n, served) = served_count(name, variant, sum);
            assert_eq!(count, served, "{name} variant {variant} scrape {n}");
            ns.push(n);
        }
        // One histogram per scrape, none twice, none left out.
        assert!(ns.windows(2).all(|w| w[1] == w[0] + 1), "{name}/{variant}: {ns:?}");
        *got.entry(format!("{name}/{variant}")).or_default() += ns.len() as u64;
    }
    assert_eq!(got, want);
}

/// The records of the WAL at `data` as `walship dump --format jsonl` prints them.
fn dump_wal(data: &Path) -> Vec<serde_json::Value> {
    let out = walship().args(["dump", "--format", "jsonl"]).arg(data).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Distinct (series ref, t) pairs of sample records, their timestamp sum (mod 2^64) and series.
fn wal_samples(records: &[serde_json::Value]) -> (usize, u64, usize) {
    let seen: HashSet<(u64, i64)> = records
        .iter()
        .flat_map(|r| r["samples"].as_array().into_iter().flatten())
        .map(|s| (s["ref"].as_u64().unwrap(), s["t"].as_i64().unwrap()))
        .collect();
    let sum_t = seen.iter().fold(0u64, |a, (_, t)| a.wrapping_add(*t as u64));
    let series = seen.iter().map(|(r, _)| *r).collect::<HashSet<_>>().len();
    (seen.len(), sum_t, series)
}

/// Writes `checkpoint.{index}` into `wal` as Prometheus's head truncation at `mint` would: every
/// series of `records` up to segment `index`, and their samples from `mint` on.
fn write_checkpoint(wal: &Path, records: &[serde_json::Value], index: u64, mint: i64) {
    use wal_format::record::{encode_samples, encode_series, Labels, RefSample, RefSeries};
    let mut cp = wal_format::CheckpointWriter::create(wal, index, wal_format::Compression::Snappy).unwrap();
    for r in records.iter().filter(|r| r["segment"].as_u64().unwrap() <= index) {
        let mut buf = Vec::new();
        if let Some(series) = r["series"].as_array() {
            let owned: Vec<(u64, Labels)> = series
                .iter()
                .map(|s| {
                    let labels = s["labels"].as_object().unwrap();
                    (
                        s["ref"].as_u64().unwrap(),
                        Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap()))),
                    )
                })
                .collect();
            let refs: Vec<RefSeries<'_>> =
                owned.iter().map(|(r, l)| RefSeries { series_ref: *r, labels: l.as_ref() }).collect();
            encode_series(&refs, &mut buf);
        } else if let Some(samples) = r["samples"].as_array() {
            let kept: Vec<RefSample> = samples
                .iter()
                .filter(|s| s["t"].as_i64().unwrap() >= mint)
                .map(|s| RefSample {
                    series_ref: s["ref"].as_u64().unwrap(),
                    st: 0,
                    t: s["t"].as_i64().unwrap(),
                    v: s["v"].as_f64().unwrap_or(f64::from_bits(wal_format::record::STALE_NAN_BITS)),
                })
                .collect();
            if kept.is_empty() {
                continue;
            }
            encode_samples(&kept, &mut buf);
        } else {
            continue;
        }
        cp.log(&[buf]).unwrap();
    }
    cp.commit().unwrap();
}

#[test]
fn a_gap_met_while_running_is_filled_from_the_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&testdata().join("prometheus-2.42-blocks/data"), &data);
    let blocks_end = 1_796_113_440_000i64;
    let records = dump_wal(&data);
    let (want_samples, want_sum_t, want_series) = wal_samples(&records);
    // The receiver is down at first: walship, one small shard, stalls in segment 2.
    let (port, web_port) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let log_path = tmp.path().join("walship.log");
    // Over remote write 2.0 with target metadata: block series get theirs too.
    let (api, families) = fake_targets_api(&records);
    let cfg = tmp.path().join("walship.yml");
    let rw = format!(
        "remote_write:\n  - url: {url}\n    protobuf_message: io.prometheus.write.v2.Request\n    \
         queue_config: {{min_shards: 1, max_shards: 1, capacity: 200, max_samples_per_send: 100}}\n"
    );
    std::fs::write(&cfg, rw).unwrap();
    let child = walship()
        .args(["ship", "--start=beginning", "--cursor.save-interval=100ms"])
        .arg(format!("--web.listen-address=127.0.0.1:{web_port}"))
        .args(["--gap-fill.margin=0s"])
        .arg(format!("--prometheus.url={api}"))
        .arg("--wal-dir")
        .arg(&data)
        .arg("--config.file")
        .arg(&cfg)
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let child = Killed(child);
    std::thread::sleep(Duration::from_secs(3));
    // Meanwhile Prometheus truncates its head at the blocks' end, as after a compaction: a
    // checkpoint of segments up to 3 (their series, and their samples not in a block), then
    // segment 3 (1796113410867..1796113470867) deleted, then the older checkpoint.
    let wal = data.join("wal");
    write_checkpoint(&wal, &records, 3, blocks_end);
    std::fs::remove_file(wal.join("00000003")).unwrap();
    std::fs::remove_dir_all(wal.join("checkpoint.00000001")).unwrap();
    let rx = Printer::start_with(port, &["--print-metadata"]);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait_for("the newest WAL sample to arrive after the gap fill", 240, || {
        log().contains("Gap filled") && rx.lines.lock().unwrap().iter().any(|l| l.1 == 1_796_113_521_816)
    });
    std::thread::sleep(Duration::from_secs(2));
    // The fill's requests count on the endpoint's /metrics (same remote_name and url): every
    // sample the receiver got was counted as sent, blocks' included.
    let (code, body) = http(web_port, "GET", "/metrics").expect("/metrics answers");
    assert_eq!(code, 200);
    let metrics = String::from_utf8(body).unwrap();
    let value = |family: &str| -> u64 {
        let found: Vec<&str> =
            metrics.lines().filter(|l| l.starts_with(&format!("prometheus_remote_storage_{family}{{"))).collect();
        assert_eq!(found.len(), 1, "one {family} line: {found:?}");
        assert!(found[0].contains(&format!("url=\"{url}\"")), "{}", found[0]);
        found[0].rsplit(' ').next().unwrap().parse().unwrap()
    };
    let sent = value("samples_total") - value("samples_retried_total") - value("samples_failed_total");
    assert_eq!(sent as usize, rx.lines.lock().unwrap().len(), "samples counted on /metrics vs received");
    child.terminate();
    let log = log();
    eprintln!("{log}");
    let meta = rx.meta.clone();
    let lines = without_resent(rx.finish(), &log);
    let (checked, _) = assert_series_metadata(&meta.lock().unwrap(), &families);
    assert!(checked > 1000, "{checked} series lines checked");
    let gap_line = log.lines().find(|l| l.contains("WAL segments missing")).expect("a gap line");
    assert!(gap_line.contains("missing=00000003..00000003"), "{gap_line}");
    assert!(gap_line.contains("blocks=01M8RB95BM1GW3F630835WP2XZ"), "{gap_line}");
    assert!(gap_line.contains("nothing lost"), "{gap_line}");
    // Every sample the WAL held arrived: segment 3's up to the blocks' end from the newest block,
    // the rest from the checkpoint, and the segments before and after.
    let got = arrived(&lines, i64::MIN);
    assert_eq!((got.samples, got.sum_t, got.series), (want_samples, want_sum_t, want_series));
    // Per series in time order: the WAL before the gap, the blocks, the WAL after it.
    let mut newest: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for (labels, t, _) in &lines {
        let prev = newest.insert(labels, *t).unwrap_or(i64::MIN);
        assert!(*t >= prev, "{labels}: {t} arrived after {prev}");
    }
    // Only samples at the acknowledged time itself may come twice.
    assert!(got.received - got.samples <= got.series, "{} sent twice", got.received - got.samples);
    assert!(summary_field(&log, "wal_gaps") == "0", "{log}");
}

/// A stand-in for Prometheus's `/api/v1/targets/metadata`: one family per (job, instance,
/// metric name) of the WAL's series, typed by name, with a help text naming it. Returns its
/// base URL and the families it lists.
fn fake_targets_api(records: &[serde_json::Value]) -> (String, HashSet<(String, String, String)>) {
    let mut families = HashSet::new();
    for s in records.iter().flat_map(|r| r["series"].as_array().into_iter().flatten()) {
        let l = &s["labels"];
        let text = |k: &str| l[k].as_str().unwrap_or_default().to_string();
        families.insert((text("job"), text("instance"), text("__name__")));
    }
    let data: Vec<serde_json::Value> = families
        .iter()
        .map(|(job, instance, name)| {
            let typ = if name.ends_with("_total") { "counter" } else { "gauge" };
            serde_json::json!({"target": {"job": job, "instance": instance}, "metric": name, "type": typ,
                "help": format!("help of {name}"), "unit": ""})
        })
        .collect();
    let body = serde_json::json!({"status": "success", "data": data}).to_string();
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let _ = req.respond(tiny_http::Response::from_string(body.clone()));
        }
    });
    (format!("http://127.0.0.1:{port}"), families)
}

/// The labels of a receiver's `{a="1", b="2"}` text, as name → value.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim_start_matches('{');
    while let Some((name, after)) = rest.split_once("=\"") {
        let (mut value, mut chars, mut end) = (String::new(), after.char_indices(), after.len());
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(name.trim_start_matches(", ").to_string(), value);
        rest = &after[end..];
    }
    out
}

/// Checks every `# SERIES` line (remote write 2.0) of a series whose family `families` lists:
/// it carries that family's type, help and unit. Returns (series lines checked, lines of series
/// no family lists).
fn assert_series_metadata(meta: &[String], families: &HashSet<(String, String, String)>) -> (usize, usize) {
    let (mut checked, mut unlisted) = (0, 0);
    for line in meta {
        let Some(rest) = line.strip_prefix("# SERIES ") else { continue };
        let close = rest.find("} ").unwrap();
        let labels = parse_labels(&rest[..close]);
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        let name = get("__name__");
        if !families.contains(&(get("job"), get("instance"), name.clone())) {
            unlisted += 1;
            continue;
        }
        let typ = if name.ends_with("_total") { "counter" } else { "gauge" };
        let want = format!("{typ} {:?} \"\"", format!("help of {name}"));
        assert_eq!(&rest[close + 2..], want, "{line}");
        checked += 1;
    }
    (checked, unlisted)
}

/// Over remote write 2.0 with `--prometheus.url`, the series of the startup block phase
/// (`--start=oldest`) carry their family's type, help and unit, as WAL series do.
#[test]
fn block_series_carry_target_metadata_over_2_0() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&testdata().join("prometheus-2.42-blocks/data"), &data);
    let (api, families) = fake_targets_api(&dump_wal(&data));
    let rx = Printer::start_with(0, &["--print-metadata"]);
    let cfg = tmp.path().join("walship.yml");
    let rw = format!("remote_write:\n  - url: {}\n    protobuf_message: io.prometheus.write.v2.Request\n", rx.url());
    std::fs::write(&cfg, rw).unwrap();
    let out = walship()
        .args(["ship", "--once", "--start=oldest", "--web.listen-address="])
        .arg(format!("--prometheus.url={api}"))
        .arg("--config.file")
        .arg(&cfg)
        .arg("--wal-dir")
        .arg(&data)
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let meta = rx.meta.clone();
    let lines = rx.finish();
    let blocks_end = 1_796_113_440_000i64;
    assert!(lines.iter().any(|l| l.1 < blocks_end - 120_000), "samples only blocks hold arrived");
    let (checked, unlisted) = assert_series_metadata(&meta.lock().unwrap(), &families);
    eprintln!("{checked} series lines with their family's metadata, {unlisted} of series no family lists");
    assert!(checked > 1000, "{checked} series lines checked");
}

/// The same cursor in deleted segments, but the data directory holds no block (Prometheus had
/// not persisted one, or retention removed them): nothing can fill the gap, so it is reported
/// as lost (exit 2), never as filled.
#[test]
fn a_gap_no_block_holds_is_reported_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let cursor = serde_json::json!({"segment": 1, "offset": 0, "acked_ms": 1_796_113_320_000i64});
    let (data, state, rx) = blocks_with_cursor(tmp.path(), cursor);
    for e in std::fs::read_dir(&data).unwrap().flatten() {
        if e.path().join("meta.json").exists() {
            std::fs::remove_dir_all(e.path()).unwrap();
        }
    }
    let out = run(&mut ship(&data, &state, &rx.url(), &["--gap-fill.margin=0s"]));
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{log}");
    let gap_line = log.lines().find(|l| l.contains("WAL segments missing")).expect("a gap line");
    assert!(!gap_line.contains("nothing lost"), "{gap_line}");
    drop(rx.finish());
}
