//! Push samples from a program (no WAL) to a remote-write endpoint.
//!
//! ```text
//! cargo run -p remote-queue --example push -- http://127.0.0.1:8428/api/v1/write
//! cargo run -p remote-queue --example push
//! ```
//! (VictoriaMetrics listens there; for Prometheus start it with `--web.enable-remote-write-receiver`
//! and use `http://127.0.0.1:9090/api/v1/write`.) Without a URL the example starts a stand-in
//! receiver on loopback that accepts every request, so that it runs anywhere.

use remote_queue::{EndpointConfig, Labels, Position, QueueManager, RefSample, RefSeries};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => accept_everything_on_loopback()?,
    };
    let mut cfg = EndpointConfig::new(url);
    cfg.external_labels = vec![("source".into(), "push-example".into())];
    cfg.queue.batch_send_deadline = Duration::from_millis(500);
    let queue = QueueManager::new(cfg)?;

    // 1. Declare series: any u64 you like as reference, with their labels.
    let cpu = Labels::from_pairs([("__name__", "example_cpu_seconds_total"), ("core", "0")]);
    let temp = Labels::from_pairs([("__name__", "example_temperature_celsius"), ("sensor", "a")]);
    queue.store_series(
        &[RefSeries { series_ref: 1, labels: cpu.as_ref() }, RefSeries { series_ref: 2, labels: temp.as_ref() }],
        0,
    );

    // 2. Append samples. The position is yours to choose: the queue reports back, through
    //    `low_watermark`, the position below which everything has been accepted by the remote.
    for step in 0..10u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
        let samples = [
            RefSample { series_ref: 1, st: 0, t: now, v: step as f64 * 0.5 },
            RefSample { series_ref: 2, st: 0, t: now, v: 20.0 + step as f64 },
        ];
        queue.append_samples(&samples, Position { segment: 0, offset: step })?;
        std::thread::sleep(Duration::from_millis(100));
    }
    queue.mark_read(Position { segment: 0, offset: 10 })?;

    // 3. Stop: flushes what is queued (bounded by flush_deadline, 1 min by default).
    queue.stop();
    let m = queue.metrics();
    println!(
        "sent {} samples ({} failed, {} retried); acknowledged below {:?}",
        m.samples_total,
        m.samples_failed_total,
        m.samples_retried_total,
        queue.low_watermark()
    );
    let mut text = String::new();
    queue.render_metrics(&mut text);
    println!("{} lines of self-metrics, e.g.:", text.lines().count());
    for line in text.lines().filter(|l| l.starts_with("prometheus_remote_storage_samples_total")) {
        println!("  {line}");
    }
    Ok(())
}

/// Starts a stand-in remote-write receiver on a loopback port and returns its URL. It answers
/// every request `204 No Content` without decoding it: just enough HTTP/1.1 for the queue's client.
fn accept_everything_on_loopback() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/api/v1/write", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut reader = BufReader::new(stream.try_clone()?);
                let mut stream = stream;
                // One request after another on the kept-alive connection.
                loop {
                    let mut body_len = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line)? == 0 {
                            return Ok(()); // the client closed the connection
                        }
                        let header = line.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                body_len = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    std::io::copy(&mut (&mut reader).take(body_len), &mut std::io::sink())?;
                    stream.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")?;
                }
            });
        }
    });
    println!("no URL given: pushing to a stand-in receiver at {url}");
    Ok(url)
}
