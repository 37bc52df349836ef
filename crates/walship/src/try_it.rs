//! `walship try`: ship a bundled real Prometheus WAL to a built-in receiver (or to VictoriaMetrics
//! when one listens on 127.0.0.1:8428), with a progress line and a summary.

use crate::error::CliError;
use crate::{receive, ship};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The bundled WAL: looked up from the working directory (a checkout), then from where this
/// binary was built.
fn bundled_wal() -> Option<PathBuf> {
    let rel = "testdata/prometheus-2.42/snappy-exemplars-checkpoint";
    [PathBuf::from(rel), PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)]
        .into_iter()
        .find(|p| p.is_dir())
}

fn victoria_metrics_running() -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], 8428).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 256];
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n").is_ok()
        && s.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"HTTP/1.1 200"))
}

/// Runs the demonstration.
pub fn run(url: Option<String>, wal_dir: Option<PathBuf>) -> Result<ExitCode, CliError> {
    let wal = wal_dir
        .or_else(bundled_wal)
        .ok_or_else(|| CliError::Usage("no bundled WAL found: run from a walship checkout or pass --wal-dir".into()))?;
    let expected = crate::inspect::inspect(&wal)?;
    let mut receiver = None;
    let url = match url {
        Some(u) => u,
        None if victoria_metrics_running() => "http://127.0.0.1:8428/api/v1/write".to_string(),
        None => {
            let r = receive::start("127.0.0.1:0", 2, receive::Print::default())?;
            let u = format!("http://{}/api/v1/write", r.addr);
            receiver = Some(r);
            u
        }
    };
    eprintln!("walship try: shipping {} ({} samples) to {url}", wal.display(), expected.samples);
    let state = std::env::temp_dir().join(format!("walship-try-{}", std::process::id()));
    let mut endpoint = remote_queue::EndpointConfig::new(url);
    endpoint.send_exemplars = true;
    endpoint.queue.min_shards = 2;
    endpoint.flush_deadline = Duration::from_secs(60);
    let opts = ship::ShipOptions {
        wal_dir: wal,
        endpoints: vec![endpoint],
        start: ship::Start::Wal(wal_watcher::StartMode::Beginning),
        once: true,
        state_dir: state.clone(),
        cursor_interval: Duration::from_secs(1),
        listen: None,
        progress: true,
        stall_timeout: Duration::from_secs(60),
        fill_margin: ship::FILL_MARGIN,
        prometheus: None,
    };
    let (code, s) = ship::ship(opts)?;
    let _ = std::fs::remove_dir_all(&state);
    let rate = s.samples.sent as f64 / s.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "walship try: {} samples read, {} sent ({:.0} samples/s), {} dropped, {} failed, in {:.2?}{}",
        s.samples_read,
        s.samples.sent,
        rate,
        s.samples.dropped_total(),
        s.samples.failed,
        s.elapsed,
        if s.complete { "; everything acknowledged" } else { "; NOT everything was acknowledged" }
    );
    if let Some(r) = receiver {
        let got = r.counts.samples.load(Ordering::Relaxed);
        eprintln!(
            "walship try: the built-in receiver accepted {got} samples in {} requests (the WAL holds {} samples{})",
            r.counts.requests.load(Ordering::Relaxed),
            expected.samples,
            if got == expected.samples { ": all of them" } else { "" }
        );
        if got < expected.samples {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(code)
}
