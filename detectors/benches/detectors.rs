//! What the detectors cost: one poll of a 100-pod node (a simulated node, so the
//! cost is the detectors' own), and scanning a journal export for the runbook's
//! pattern (criterion reports bytes per second; `kubestall bench --detectors`
//! compares the same scan against GNU grep on a 1 GiB file).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kubestall_detectors::scan::{RUNBOOK_PATTERNS, count_matching_lines, write_sample_journal};
use kubestall_detectors::{DetectorConfig, NodeMonitor};
use kubestall_node::NodeName;
use kubestall_sim::{Action, Sim, SimConfig, SimNodeConfig};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn poll(c: &mut Criterion) {
    let name = NodeName::new("k8s03").expect("valid");
    let sim = Sim::new(SimConfig::new(
        1,
        vec![SimNodeConfig {
            initial_pods: 100,
            ..SimNodeConfig::new(name.clone())
        }],
    ))
    .expect("sim");
    for i in 0..20 {
        sim.schedule(
            sim.now().add(Duration::from_secs(i * 3)),
            Action::CreatePod {
                namespace: "bench".into(),
                name: format!("p{i}"),
                node: Some(name.clone()),
            },
        );
    }
    let node = sim.node(&name).expect("node");
    let mut monitor = NodeMonitor::new(name, DetectorConfig::default());
    c.bench_function("poll a 100-pod node", |b| {
        b.iter(|| {
            sim.run_for(Duration::from_millis(100));
            black_box(block_on(monitor.poll(&node)).map(|f| f.len()).unwrap_or(0))
        })
    });
}

fn scan(c: &mut Criterion) {
    let path =
        std::env::temp_dir().join(format!("kubestall-bench-scan-{}.log", std::process::id()));
    let _ = write_sample_journal(&path, 64 << 20);
    let bytes = std::fs::read(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let mut g = c.benchmark_group("journal scan");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(10);
    g.bench_function("runbook pattern, 64 MiB", |b| {
        b.iter(|| black_box(count_matching_lines(&bytes[..], &RUNBOOK_PATTERNS).unwrap_or(0)))
    });
    g.finish();
}

criterion_group!(benches, poll, scan);
criterion_main!(benches);
