//! Criterion benches of the DAG tracker on random layered DAGs (mean out-degree 4).
//! The side-by-side comparison with Python peers is `benches/bench_dag.py`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pit_dag::{DagTracker, KeyBatch};

fn layered(n: usize, width: usize, degree: usize, mut seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut next = move || {
        // xorshift64*: deterministic and dependency-free
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let layers = n / width;
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    for _ in 0..degree * n {
        let s = (next() % ((layers - 1) * width) as u64) as usize;
        let d = (s / width + 1) * width + (next() % width as u64) as usize;
        src.push(s as u32);
        dst.push(d as u32);
    }
    (src, dst)
}

fn build(n: usize, src: &[u32], dst: &[u32]) -> DagTracker {
    let mut t = DagTracker::new();
    t.add_tasks(&KeyBatch::Ints((0..n as i64).collect()), None).unwrap();
    t.add_edges(src, dst).unwrap();
    t
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("dag");
    group.sample_size(10);
    for n in [10_000usize, 100_000] {
        let (src, dst) = layered(n, 1000.min(n / 10), 4, 42);
        group.bench_with_input(BenchmarkId::new("build", n), &n, |b, &n| {
            b.iter(|| build(n, black_box(&src), black_box(&dst)))
        });
        let base = build(n, &src, &dst);
        group.bench_with_input(BenchmarkId::new("drain_per_task", n), &n, |b, _| {
            b.iter_batched(
                || base.clone(),
                |mut t| {
                    let (mut ready, mut out) = (Vec::new(), Vec::new());
                    while t.is_active() {
                        ready.clear();
                        t.take_ready(usize::MAX, &mut ready);
                        for &v in &ready {
                            out.clear();
                            t.done(v, &mut out).unwrap();
                        }
                    }
                    t
                },
                criterion::BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("drain_batch", n), &n, |b, _| {
            b.iter_batched(
                || base.clone(),
                |mut t| {
                    let (mut ready, mut out) = (Vec::new(), Vec::new());
                    while t.is_active() {
                        ready.clear();
                        t.take_ready(usize::MAX, &mut ready);
                        t.done_many(&ready, &mut out).unwrap();
                    }
                    t
                },
                criterion::BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("checkpoint_round_trip", n), &n, |b, _| {
            b.iter(|| DagTracker::from_bytes(&base.to_bytes()).unwrap())
        });
        // One edge into a live DAG against the current order: the Pearce-Kelly path.
        let order = base.topological_order();
        let (late, early) = (order[n / 2 + 7], order[n / 2 - 7]);
        group.bench_with_input(BenchmarkId::new("add_edge_incremental", n), &n, |b, _| {
            b.iter_batched(
                || base.clone(),
                |mut t| {
                    let _ = t.add_edge(late, early);
                    t
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(dag, benches);
criterion_main!(dag);
