//! How fast the model runs: simulated seconds per wall second (criterion reports
//! it as elements per second, one element being one simulated second).
//!
//! `cargo bench -p kubestall-sim` measures; `cargo test --benches` runs each once.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kubestall_node::{NodeName, Unit};
use kubestall_sim::{Action, Sim, SimConfig, SimNodeConfig};

const HOUR: Duration = Duration::from_secs(3600);

/// `nodes` nodes with `pods_per_node` Running pods, a pod per node per minute,
/// and a kubelite restart on one node every ten minutes, for one simulated hour.
fn hour(nodes: usize, pods_per_node: u32) -> u64 {
    let names: Vec<NodeName> = (1..=nodes)
        .filter_map(|i| NodeName::new(format!("k8s{i:04}")).ok())
        .collect();
    let cfg = SimConfig::new(
        1,
        names
            .iter()
            .map(|n| SimNodeConfig {
                initial_pods: pods_per_node,
                ..SimNodeConfig::new(n.clone())
            })
            .collect(),
    );
    let sim = Sim::new(cfg).expect("valid cluster");
    let t0 = sim.now();
    for (i, n) in names.iter().enumerate() {
        for m in 0..60u64 {
            let at = t0.add(Duration::from_secs(m * 60 + (i as u64 % 60)));
            sim.schedule(
                at,
                Action::CreatePod {
                    namespace: "bench".into(),
                    name: format!("{n}-{m}"),
                    node: Some(n.clone()),
                },
            );
        }
    }
    for k in 0..6u64 {
        let n = names[(k as usize * 7) % names.len()].clone();
        sim.schedule(
            t0.add(Duration::from_secs(k * 600 + 30)),
            Action::RestartUnit {
                node: n,
                unit: Unit::Kubelite,
            },
        );
    }
    sim.run_until(t0.add(HOUR));
    sim.events_processed()
}

fn speed(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulated-hour");
    g.throughput(Throughput::Elements(HOUR.as_secs()));
    g.sample_size(10);
    g.bench_function("3 nodes x 100 pods", |b| b.iter(|| black_box(hour(3, 100))));
    g.measurement_time(Duration::from_secs(60));
    g.bench_function("1000 nodes x 30000 pods", |b| {
        b.iter(|| black_box(hour(1000, 30)))
    });
    g.finish();
}

criterion_group!(benches, speed);
criterion_main!(benches);
