//! The watcher, case by case: Prometheus's own watcher tests (`tsdb/wlog/watcher_test.go`)
//! restated, then walship's start modes, resumption and housekeeping.

mod common;

use common::*;
use std::time::{Duration, Instant};
use wal_watcher::{Event, Sink, StartMode, Watcher};

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a watcher on its own thread; returns its sink and a stop function.
fn spawn(dir: &std::path::Path, start: StartMode) -> (Recorder, impl FnOnce() -> Watcher<Recorder>) {
    let rec = Recorder::default();
    let mut w = Watcher::new(dir, fast_options(start), rec.clone());
    let stop = w.stop_handle();
    let h = std::thread::spawn(move || {
        w.run(|e| eprintln!("event: {e:?}")).unwrap();
        w
    });
    (rec, move || {
        stop.stop();
        h.join().unwrap()
    })
}

/// Tail samples: samples written after the start arrive; series from every segment are known.
#[test]
fn tails_samples_written_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = small_wal(dir.path());
    w.log(&[series_record(1..=50)]).unwrap();
    w.log(&[samples_record(1..=50, 1)]).unwrap(); // old: before the start
    w.next_segment().unwrap();
    let (rec, stop) = spawn(dir.path(), StartMode::Timestamp(1_000));
    for i in 0..200 {
        w.log(&[samples_record(1..=50, 1_000 + i)]).unwrap(); // t = 1000 is not after the start
    }
    wait_for("199 scrapes", || rec.seen().samples.len() == 199 * 50);
    let watcher = stop();
    let seen = rec.seen();
    assert_eq!(seen.series.len(), 50);
    assert!(seen.samples.iter().all(|s| s.1 > 1_000));
    for (_, ts) in by_series(&seen.samples) {
        assert_eq!(ts, (1_001..1_200).collect::<Vec<_>>(), "in WAL order, once each");
    }
    assert!(watcher.metrics().samples_sent.load(std::sync::atomic::Ordering::Relaxed) == 199 * 50);
}

/// Without file-system notifications (a file system without inotify) polling alone keeps up.
#[test]
fn polling_alone_tails_as_well() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = small_wal(dir.path());
    w.log(&[series_record(1..=20)]).unwrap();
    let rec = Recorder::default();
    let opts = wal_watcher::WatcherOptions { use_notify: false, ..fast_options(StartMode::Timestamp(0)) };
    let mut watcher = Watcher::new(dir.path(), opts, rec.clone());
    let stop = watcher.stop_handle();
    let h = std::thread::spawn(move || watcher.run(|_| {}));
    for t in 1..=300 {
        w.log(&[samples_record(1..=20, t)]).unwrap();
        if t % 50 == 0 {
            w.next_segment().unwrap();
        }
    }
    wait_for("300 scrapes", || rec.seen().samples.len() == 300 * 20);
    stop.stop();
    h.join().unwrap().unwrap();
    for (_, ts) in by_series(&rec.seen().samples) {
        assert_eq!(ts, (1..=300).collect::<Vec<_>>());
    }
}

/// Read to end without a checkpoint, "now" mode: series of every segment, no old samples.
#[test]
fn now_mode_reads_series_of_old_segments_but_not_their_samples() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = small_wal(dir.path());
    for seg in 0..5u64 {
        w.log(&[series_record(seg * 100 + 1..=seg * 100 + 100)]).unwrap();
        w.log(&[samples_record(seg * 100 + 1..=seg * 100 + 100, 5)]).unwrap();
        w.next_segment().unwrap();
    }
    let (rec, stop) = spawn(dir.path(), StartMode::Now);
    wait_for("series", || rec.seen().series.len() == 500);
    std::thread::sleep(Duration::from_millis(50));
    stop();
    let seen = rec.seen();
    assert!(seen.samples.is_empty(), "samples from before the start were sent");
    assert_eq!(seen.series[&1].1, 0);
    assert_eq!(seen.series[&401].1, 4, "series tagged with their segment");
}

/// Read to end with a checkpoint: the checkpoint's series carry its index; segments after it
/// follow; the checkpoint's samples are not sent.
#[test]
fn checkpoint_series_then_segments() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), 3, 1..101, 5);
    for i in 0..4 {
        std::fs::write(dir.path().join(wal_format::segment_file_name(i)), b"").unwrap();
    }
    for i in 0..4 {
        std::fs::remove_file(dir.path().join(wal_format::segment_file_name(i))).unwrap();
    }
    // Segments 4.. exist; the writer continues after the highest (none): start at 4.
    std::fs::write(dir.path().join(wal_format::segment_file_name(4)), b"").unwrap();
    let mut w = small_wal(dir.path()); // segment 5
    w.log(&[series_record(101..=150)]).unwrap();
    let (rec, stop) = spawn(dir.path(), StartMode::Now);
    wait_for("series", || rec.seen().series.len() == 150);
    stop();
    let seen = rec.seen();
    assert_eq!(seen.series[&1].1, 3, "checkpoint series are tagged with the checkpoint's index");
    assert_eq!(seen.series[&150].1, 5);
    assert!(seen.samples.is_empty());
}

/// A checkpoint made of several segments is read whole.
#[test]
fn multi_segment_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cp_dir = dir.path().join("checkpoint.00000002");
    let mut cp = wal_format::WalWriter::create(
        &cp_dir,
        wal_format::WalOptions { segment_size: 2 * wal_format::PAGE_SIZE, compression: wal_format::Compression::None },
    )
    .unwrap();
    for k in 0..40u64 {
        cp.log(&[series_record(k * 500 + 1..=k * 500 + 500)]).unwrap();
    }
    cp.close().unwrap();
    assert!(std::fs::read_dir(&cp_dir).unwrap().count() > 3);
    let mut w = small_wal(dir.path());
    w.log(&[series_record(90_001..=90_001)]).unwrap();
    std::fs::rename(dir.path().join("00000000"), dir.path().join("00000003")).unwrap();
    let (rec, stop) = spawn(dir.path(), StartMode::Now);
    wait_for("all checkpoint series", || rec.seen().series.len() == 20_001);
    stop();
}

/// A new checkpoint during tailing: its series are re-declared, then older series dropped.
#[test]
fn series_reset_after_a_new_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = small_wal(dir.path());
    w.log(&[series_record(1..=100)]).unwrap();
    w.next_segment().unwrap(); // 1
    w.log(&[series_record(101..=200)]).unwrap();
    w.next_segment().unwrap(); // 2
    let (rec, stop) = spawn(dir.path(), StartMode::Now);
    wait_for("series", || rec.seen().series.len() == 200);
    // Prometheus truncates: series 1..=50 died; checkpoint.00000001 keeps 51..=200.
    let mut cp = wal_format::CheckpointWriter::create(dir.path(), 1, wal_format::Compression::Snappy).unwrap();
    cp.log(&[series_record(51..=200)]).unwrap();
    cp.commit().unwrap();
    w.truncate_before(2).unwrap();
    wait_for("series reset", || !rec.seen().resets.is_empty());
    let watcher = stop();
    let seen = rec.seen();
    assert_eq!(seen.resets, vec![1]);
    assert_eq!(seen.series.len(), 150, "dead series dropped, live ones kept");
    assert!(!seen.series.contains_key(&50) && seen.series.contains_key(&51));
    assert_eq!(watcher.metrics().checkpoints_gc.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// Start modes over the same WAL.
#[test]
fn start_modes() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), 0, 1..11, 50);
    std::fs::write(dir.path().join("00000000"), b"").unwrap();
    let mut w = small_wal(dir.path()); // 1
    w.log(&[series_record(11..=20)]).unwrap();
    let mut positions = Vec::new();
    for t in 100..400 {
        positions.push(w.append(&samples_record(1..=20, t)).unwrap());
        if t % 7 == 0 {
            w.flush().unwrap();
        }
        if t % 100 == 99 {
            w.next_segment().unwrap();
        }
    }
    w.close().unwrap();
    std::fs::remove_file(dir.path().join("00000000")).unwrap();

    let run = |start: StartMode| {
        let rec = Recorder::default();
        let mut watcher = Watcher::new(dir.path(), fast_options(start), rec.clone());
        watcher.run_to_end(|e| eprintln!("{e:?}")).unwrap();
        let seen = rec.seen();
        assert_eq!(seen.series.len(), 20);
        seen.samples.clone()
    };
    let all = run(StartMode::Beginning);
    assert_eq!(all.len(), 10 + 300 * 20, "checkpoint samples and every segment sample");
    assert!(all[..10].iter().all(|s| s.1 == 50));
    let after = run(StartMode::Timestamp(250));
    assert_eq!(after.len(), 149 * 20);
    assert!(after.iter().all(|s| s.1 > 250));
    let resumed = run(StartMode::Position(positions[150]));
    assert_eq!(resumed.len(), 150 * 20);
    assert_eq!(resumed[0].3, positions[150]);
    assert!(run(StartMode::Now).is_empty(), "now: nothing written after the start");
}

/// A cursor into segments Prometheus deleted resumes at the oldest data left and says so.
#[test]
fn position_in_a_deleted_segment_is_a_reported_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = small_wal(dir.path());
    w.log(&[series_record(1..=10)]).unwrap();
    let old = w.append(&samples_record(1..=10, 1)).unwrap();
    w.next_segment().unwrap();
    w.next_segment().unwrap(); // 2
    w.log(&[samples_record(1..=10, 2)]).unwrap();
    w.close().unwrap();
    let mut cp = wal_format::CheckpointWriter::create(dir.path(), 1, wal_format::Compression::Snappy).unwrap();
    cp.log(&[series_record(1..=10), samples_record(1..=10, 1)]).unwrap();
    cp.commit().unwrap();
    for i in 0..2 {
        std::fs::remove_file(dir.path().join(wal_format::segment_file_name(i))).unwrap();
    }
    let rec = Recorder::default();
    let mut watcher = Watcher::new(dir.path(), fast_options(StartMode::Position(old)), rec.clone());
    let mut gaps = Vec::new();
    watcher
        .run_to_end(|e| {
            if let Event::Gap { missing, checkpoint, newest_before_ms, first_after_ms } = e {
                gaps.push((missing, checkpoint, newest_before_ms, first_after_ms));
            }
        })
        .unwrap();
    assert!(old.segment == 0);
    // The report names the missing segments, the checkpoint that covers them, and the time range
    // around them: the checkpoint's samples (t = 1) before, segment 2's (t = 2) after.
    assert_eq!(gaps, vec![(0..=1, Some(1), Some(1), Some(2))]);
    // The checkpoint kept the samples of the deleted segments: they are sent, then segment 2.
    let ts: Vec<i64> = rec.seen().samples.iter().map(|s| s.1).collect();
    assert_eq!(ts, [vec![1; 10], vec![2; 10]].concat());
}

/// Segment 0: series 1 to 10 and their samples at t = 1; segment 1: series 11, and the samples
/// of all 11 at t = 2; segments 2 to 4: theirs at t = 3 to 5.
fn five_segments(dir: &std::path::Path) {
    let mut w = small_wal(dir);
    w.log(&[series_record(1..=10), samples_record(1..=10, 1)]).unwrap();
    w.next_segment().unwrap();
    w.log(&[series_record(11..=11), samples_record(1..=11, 2)]).unwrap();
    for t in 3..=5 {
        w.next_segment().unwrap();
        w.log(&[samples_record(1..=11, t)]).unwrap();
    }
    w.close().unwrap();
}

/// What Prometheus does to [`five_segments`] when it truncates its head: writes checkpoint 2
/// (every series, with their samples at t = 2 and 3) and deletes segments 0 to 2.
fn truncate_to_checkpoint_2(dir: &std::path::Path) {
    let mut cp = wal_format::CheckpointWriter::create(dir, 2, wal_format::Compression::Snappy).unwrap();
    cp.log(&[series_record(1..=11), samples_record(1..=11, 2), samples_record(1..=11, 3)]).unwrap();
    cp.commit().unwrap();
    for i in 0..=2 {
        std::fs::remove_file(dir.join(wal_format::segment_file_name(i))).unwrap();
    }
}

/// Runs the watcher to the end; returns the gaps it reported, as (missing, checkpoint).
fn gap_events<S: Sink>(watcher: &mut Watcher<S>) -> Vec<(std::ops::RangeInclusive<u64>, Option<u64>)>
where
    S::Error: std::fmt::Debug,
{
    let mut events = Vec::new();
    watcher
        .run_to_end(|e| {
            if let Event::Gap { missing, checkpoint, .. } = e {
                events.push((missing, checkpoint));
            }
        })
        .unwrap();
    events
}

/// A sink that records the gaps it is told of (with the number of samples taken by then) and
/// answers them as told. At the samples records it is offered it can also do what a test needs:
/// with `truncate_in`, at the first one, what Prometheus does to a lagging reader
/// ([`truncate_to_checkpoint_2`]); with `refuse`, stop the watcher at that record (counting
/// from 1), taking nothing of it.
struct GapSink {
    rec: Recorder,
    answer: wal_watcher::GapAnswer,
    gaps: Vec<(std::ops::RangeInclusive<u64>, Option<u64>, usize)>,
    offered: usize,
    truncate_in: Option<std::path::PathBuf>,
    refuse: Option<usize>,
}

impl GapSink {
    fn new(rec: Recorder, answer: wal_watcher::GapAnswer) -> GapSink {
        GapSink { rec, answer, gaps: Vec::new(), offered: 0, truncate_in: None, refuse: None }
    }
}

impl Sink for GapSink {
    type Error = std::convert::Infallible;
    fn store_series(&mut self, s: &[wal_format::record::RefSeries<'_>], segment: u64) -> Result<bool, Self::Error> {
        self.rec.store_series(s, segment)
    }
    fn append_samples(
        &mut self,
        samples: &[wal_format::record::RefSample],
        at: wal_format::Position,
    ) -> Result<bool, Self::Error> {
        self.offered += 1;
        if self.refuse == Some(self.offered) {
            return Ok(false);
        }
        self.rec.append_samples(samples, at)?;
        if let (1, Some(dir)) = (self.offered, &self.truncate_in) {
            truncate_to_checkpoint_2(dir);
        }
        Ok(true)
    }
    fn gap(
        &mut self,
        missing: std::ops::RangeInclusive<u64>,
        checkpoint: Option<u64>,
    ) -> Result<wal_watcher::GapAnswer, Self::Error> {
        self.gaps.push((missing, checkpoint, self.rec.seen().samples.len()));
        Ok(self.answer)
    }
}

/// Segments deleted while the watcher reads the WAL (Prometheus truncated its head under it):
/// the checkpoint written with the deletion is read right after the gap, as at start — its
/// series (one created in a deleted segment) and the samples the sink asks for — then the
/// segments after it. The sink hears of the gap before anything read after it.
#[test]
fn the_checkpoint_written_with_a_gap_met_while_running_is_read() {
    use wal_watcher::GapAnswer;
    let run = |answer: GapAnswer| {
        let dir = tempfile::tempdir().unwrap();
        five_segments(dir.path());
        let rec = Recorder::default();
        let sink = GapSink { truncate_in: Some(dir.path().into()), ..GapSink::new(rec.clone(), answer) };
        let mut watcher = Watcher::new(dir.path(), fast_options(StartMode::Beginning), sink);
        let events = gap_events(&mut watcher);
        if answer != GapAnswer::Stop {
            assert_eq!(events, [(1..=2, Some(2))]);
        }
        // Told once, after segment 0's 10 samples and before anything else.
        assert_eq!(watcher.sink().gaps, [(1..=2, Some(2), 10)]);
        let seen = rec.seen();
        let want = (answer != GapAnswer::Stop).then_some(2);
        assert_eq!(seen.series.get(&11).map(|s| s.1), want, "series 11 came from the checkpoint");
        // Checkpoint samples stand at the checkpoint's place, after segment 0 and before segment 3.
        let cp: Vec<_> = seen.samples.iter().filter(|s| s.3 == wal_format::Position::new(2, 0)).collect();
        assert!(seen.samples.windows(2).all(|w| w[0].3 <= w[1].3), "positions in order");
        let ts: Vec<i64> = seen.samples.iter().map(|s| s.1).collect();
        (ts, cp.len())
    };
    let per_t = |ts: &[i64], t: i64| ts.iter().filter(|&&x| x == t).count();
    // The sink has everything before t = 3 from elsewhere: the checkpoint gives t = 3 only.
    let (ts, from_cp) = run(GapAnswer::From(3));
    assert_eq!([1, 2, 3, 4, 5].map(|t| per_t(&ts, t)), [10, 0, 11, 11, 11]);
    assert_eq!(from_cp, 11);
    // By default: what is newer than the newest sample read before the gap (t = 1).
    let (ts, from_cp) = run(GapAnswer::GoOn);
    assert_eq!([1, 2, 3, 4, 5].map(|t| per_t(&ts, t)), [10, 11, 11, 11, 11]);
    assert_eq!(from_cp, 22);
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "in time order: {ts:?}");
    // Stop: nothing after the gap.
    let (ts, _) = run(GapAnswer::Stop);
    assert_eq!(ts, vec![1; 10]);
}

/// A pass that resumes in segments Prometheus checkpointed and deleted since the last pass
/// ended: the checkpoint is read before the gap is met, yet its samples newer than what was read
/// stand in for the deleted segments, as for a gap met while running, and the sink is told once,
/// before them.
#[test]
fn a_pass_resuming_in_deleted_segments_takes_their_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    five_segments(dir.path());
    let rec = Recorder::default();
    // Stops at segment 1's samples, the second samples record.
    let sink = GapSink { refuse: Some(2), ..GapSink::new(rec.clone(), wal_watcher::GapAnswer::GoOn) };
    let mut watcher = Watcher::new(dir.path(), fast_options(StartMode::Beginning), sink);
    watcher.run_to_end(|_| {}).unwrap();
    assert_eq!(rec.seen().samples.len(), 10, "stopped at segment 1's samples");
    // Prometheus truncates its head before the next pass.
    truncate_to_checkpoint_2(dir.path());
    assert_eq!(gap_events(&mut watcher), [(1..=2, Some(2))]);
    assert_eq!(watcher.sink().gaps, [(1..=2, Some(2), 10)], "told once, before the checkpoint");
    let seen = rec.seen();
    let ts: Vec<i64> = seen.samples.iter().map(|s| s.1).collect();
    let per_t = |t: i64| ts.iter().filter(|&&x| x == t).count();
    assert_eq!([1, 2, 3, 4, 5].map(per_t), [10, 11, 11, 11, 11], "nothing lost, nothing twice");
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "in time order: {ts:?}");
    assert!(seen.samples.windows(2).all(|w| w[0].3 <= w[1].3), "positions in order");
}

/// Damage in a finished segment is reported and counted; the next segments are still read.
#[test]
fn corruption_in_a_finished_segment_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = small_wal(dir.path());
    w.log(&[series_record(1..=10)]).unwrap();
    for t in 0..30 {
        w.log(&[samples_record(1..=10, t)]).unwrap();
    }
    w.next_segment().unwrap();
    w.log(&[samples_record(1..=10, 100)]).unwrap();
    w.close().unwrap();
    let seg0 = dir.path().join("00000000");
    let mut bytes = std::fs::read(&seg0).unwrap();
    bytes[2_000] ^= 0xff;
    std::fs::write(&seg0, bytes).unwrap();
    let rec = Recorder::default();
    let mut watcher = Watcher::new(dir.path(), fast_options(StartMode::Beginning), rec.clone());
    let mut corruptions = Vec::new();
    watcher
        .run_to_end(|e| {
            if let Event::Corruption(c) = e {
                corruptions.push(c.to_string());
            }
        })
        .unwrap();
    assert_eq!(corruptions.len(), 1, "{corruptions:?}");
    assert!(corruptions[0].contains("00000000"));
    assert_eq!(watcher.metrics().corruptions.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(rec.seen().samples.iter().any(|s| s.1 == 100), "the next segment was read");
    // Only the damaged record is lost: the 29 others of segment 0 and segment 1's arrive.
    assert_eq!(rec.seen().samples.len(), 29 * 10 + 10);
    assert_eq!(watcher.metrics().records_lost.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// The WAL directory disappears for a while (Prometheus restarting) and comes back: the watcher
/// retries without a tight loop and continues where it was.
#[test]
fn missing_directory_is_retried() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("wal");
    let mut w = small_wal(&dir);
    w.log(&[series_record(1..=5)]).unwrap();
    w.log(&[samples_record(1..=5, 10)]).unwrap();
    let (rec, stop) = spawn(&dir, StartMode::Beginning);
    wait_for("first samples", || rec.seen().samples.len() == 5);
    let moved = root.path().join("wal.moved");
    std::fs::rename(&dir, &moved).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::rename(&moved, &dir).unwrap();
    w.log(&[samples_record(1..=5, 11)]).unwrap();
    w.next_segment().unwrap();
    w.log(&[samples_record(1..=5, 12)]).unwrap();
    wait_for("samples after the gap", || rec.seen().samples.len() == 15);
    let watcher = stop();
    let errors = watcher.metrics().errors.load(std::sync::atomic::Ordering::Relaxed);
    assert!(errors < 10, "{errors} errors: a tight loop?");
    let ts: Vec<i64> = rec.seen().samples.iter().map(|s| s.1).collect();
    assert_eq!(ts.iter().filter(|&&t| t == 10).count(), 5, "nothing sent twice after the restart");
}

/// A sink that takes `after` sample records, then refuses the next one: with `false` (a clean
/// stop) or with an error.
struct Refuse {
    taken: Vec<i64>,
    after: usize,
    fail: bool,
}

impl wal_watcher::Sink for Refuse {
    type Error = std::io::Error;
    fn store_series(&mut self, _: &[wal_format::record::RefSeries<'_>], _: u64) -> Result<bool, Self::Error> {
        Ok(true)
    }
    fn append_samples(
        &mut self,
        s: &[wal_format::record::RefSample],
        _: wal_format::Position,
    ) -> Result<bool, Self::Error> {
        if self.taken.len() < self.after {
            self.taken.push(s[0].t);
            return Ok(true);
        }
        if self.fail {
            return Err(std::io::Error::other("the queue is gone"));
        }
        Ok(false)
    }
}

/// The sink stops the watcher from inside: `false` ends a tailing `run` at once, its position
/// before the refused record (so a resume delivers it); an error ends `run` with that error.
#[test]
fn the_sink_stops_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = small_wal(dir.path());
    w.log(&[series_record(1..=5)]).unwrap();
    for t in 0..10 {
        w.log(&[samples_record(1..=5, t)]).unwrap();
    }
    // The writer stays open: without the sink's answer, `run` would tail forever.
    let mut watcher =
        Watcher::new(dir.path(), fast_options(StartMode::Beginning), Refuse { taken: vec![], after: 3, fail: false });
    let started = Instant::now();
    watcher.run(|_| {}).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(watcher.sink().taken, [0, 1, 2]);
    let resume = watcher.position().expect("a position");
    let mut again = Watcher::new(
        dir.path(),
        fast_options(StartMode::Position(resume)),
        Refuse { taken: vec![], after: 1, fail: false },
    );
    again.run(|_| {}).unwrap();
    assert_eq!(again.sink().taken, [3], "the refused record is delivered on resume");

    let mut failing =
        Watcher::new(dir.path(), fast_options(StartMode::Beginning), Refuse { taken: vec![], after: 2, fail: true });
    match failing.run(|_| {}) {
        Err(wal_watcher::Error::Sink(e)) => assert_eq!(e.to_string(), "the queue is gone"),
        other => panic!("{other:?}"),
    }
    let failing_errors = failing.metrics().errors.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(failing_errors, 0, "a sink's error is not retried");
    drop(w);
}

/// A sink that notes, at every sample record, which segment the watcher's metrics say is being
/// read, next to the segment the record is in.
struct SegmentWitness {
    metrics: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<wal_watcher::WatcherMetrics>>>,
    seen: Vec<(u64, u64)>,
}

impl wal_watcher::Sink for SegmentWitness {
    type Error = std::convert::Infallible;
    fn store_series(&mut self, _: &[wal_format::record::RefSeries<'_>], _: u64) -> Result<bool, Self::Error> {
        Ok(true)
    }
    fn append_samples(
        &mut self,
        _: &[wal_format::record::RefSample],
        at: wal_format::Position,
    ) -> Result<bool, Self::Error> {
        let current = self.metrics.get().map(|m| m.current_segment.load(std::sync::atomic::Ordering::Relaxed));
        self.seen.push((at.segment, current.unwrap_or(u64::MAX)));
        Ok(true)
    }
}

/// `current_segment` names the segment being read from its first record on, also when reading
/// starts past segment 0 (a WAL truncated by Prometheus): not only once a segment has ended.
#[test]
fn the_segment_being_read_is_known_from_its_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = small_wal(dir.path());
    w.log(&[series_record(1..=5)]).unwrap();
    for segment in 0..3 {
        for t in 0..3 {
            w.log(&[samples_record(1..=5, segment * 100 + t)]).unwrap();
        }
        if segment < 2 {
            w.next_segment().unwrap();
        }
    }
    drop(w);
    // As Prometheus leaves it after a truncation: checkpoint.00000000, segments from 1 on.
    checkpoint(dir.path(), 0, 1..6, -1);
    std::fs::remove_file(dir.path().join("00000000")).unwrap();
    let metrics = std::sync::Arc::new(std::sync::OnceLock::new());
    let sink = SegmentWitness { metrics: metrics.clone(), seen: Vec::new() };
    let mut watcher = Watcher::new(dir.path(), fast_options(StartMode::Beginning), sink);
    metrics.set(watcher.metrics()).unwrap();
    watcher.run_to_end(|_| {}).unwrap();
    let seen = &watcher.sink().seen;
    // The checkpoint's samples stand at its place (segment 0), read while segment 1 is next.
    assert_eq!(seen.len(), 7, "{seen:?}");
    for (record_segment, current) in seen.iter().skip(1) {
        assert_eq!(record_segment, current, "{seen:?}");
    }
}
