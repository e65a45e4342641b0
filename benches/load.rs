//! Load on `/v1/answer`: N concurrent clients, each sending its next request when the last one
//! is answered, for a KB question mix and an order-status mix. Prints throughput, p50, p99 and
//! the share of fast 503s (load shedding).
//!
//!   cargo bench --bench load -- [--url http://127.0.0.1:8080] [--clients 16] [--requests 400]
//!                               [--questions FILE]
//!
//! The "kb" and "order" mixes repeat a few questions, as a store's traffic does, so repeat
//! questions are served from the service's vector cache. The "fresh" mix sends a different
//! question every time (one line of FILE each, default ../shared/bench/questions.txt when
//! present), so every request runs the model: the figure for traffic the cache cannot help.
//!
//! Without --url it starts the service in-process on a temporary data dir (demo store, bundled
//! KB) on a loopback port. Requests stay on loopback and the run is bounded by --requests.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::json;

const KB_QUESTIONS: &[&str] = &[
    "How long does standard shipping take?",
    "what payment methods do you accept",
    "can I return a final sale item?",
    "is there a fee to cancel my order",
    "how do I reset my password",
    "do you ship to Canada?",
    "how long do refunds take",
    "how do I wash linen sheets",
];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run_mix(url: &str, clients: usize, requests: usize, kind: &str, fresh: Arc<Vec<String>>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, next, url, kind, fresh) = (
            client.clone(),
            next.clone(),
            url.to_string(),
            kind.to_string(),
            fresh.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut shed = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let body = if kind == "kb" {
                    json!({"message": KB_QUESTIONS[i % KB_QUESTIONS.len()]})
                } else if kind == "fresh" {
                    json!({"message": fresh[i % fresh.len()]})
                } else {
                    // Verified in the message, so each request is a complete order-status turn.
                    json!({"message": "Where is my order LF-100001? My email is maya.chen@example.com"})
                };
                let t = Instant::now();
                let r = client.post(format!("{url}/v1/answer")).json(&body).send().await;
                match r {
                    Ok(r) if r.status().as_u16() == 503 => shed += 1,
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed());
                    }
                    Ok(r) => eprintln!("client {c}: HTTP {}", r.status()),
                    Err(e) => eprintln!("client {c}: {e}"),
                }
            }
            (lat, shed)
        }));
    }
    let mut all = Vec::new();
    let mut shed = 0;
    for t in tasks {
        let (l, s) = t.await.unwrap();
        all.extend(l);
        shed += s;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    println!(
        "{kind:>5}: {} ok, {} shed (503) in {:.2}s = {:.1} req/s; p50 {:.1} ms, p99 {:.1} ms ({} clients)",
        all.len(),
        shed,
        secs,
        all.len() as f64 / secs,
        percentile(&all, 0.5).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        clients
    );
}

fn main() {
    // `cargo bench` passes --bench; ignore harness flags.
    let clients: usize = arg("--clients").and_then(|v| v.parse().ok()).unwrap_or(16);
    let requests: usize = arg("--requests")
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let _keep;
    let url = match arg("--url") {
        Some(u) => u,
        None => {
            let dir = tempfile::tempdir().unwrap();
            let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let mut cfg = shopkeep::config::Config {
                data_dir: dir.path().to_path_buf(),
                kb_dir: root.join("kb"),
                ..Default::default()
            };
            cfg.model.models_root = root.join("models");
            // The load questions are about the demo store's orders.
            cfg.demo = true;
            let app = Arc::new(
                shopkeep::app::App::open(cfg)
                    .expect("app opens (run scripts/fetch-models.sh first)"),
            );
            let listener = rt
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .unwrap();
            let addr = listener.local_addr().unwrap();
            rt.spawn(shopkeep::http::serve(listener, app, std::future::pending()));
            _keep = dir;
            format!("http://{addr}")
        }
    };
    let file = arg("--questions")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/bench/questions.txt")
        });
    let fresh: Vec<String> = std::fs::read_to_string(&file)
        .map(|t| {
            t.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let fresh = Arc::new(fresh);
    rt.block_on(async {
        // Warm-up: the first requests load caches.
        run_mix(&url, 2, 20, "kb", fresh.clone()).await;
        run_mix(&url, clients, requests, "kb", fresh.clone()).await;
        run_mix(&url, clients, requests, "order", fresh.clone()).await;
        if fresh.len() >= requests {
            run_mix(&url, clients, requests, "fresh", fresh.clone()).await;
        } else {
            println!(
                "fresh: skipped ({} has fewer than {requests} questions; pass --questions FILE)",
                file.display()
            );
        }
    });
}
