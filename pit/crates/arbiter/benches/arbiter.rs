//! Criterion benches of the arbiter's hot paths, each reported per decision
//! (per choice, per lock request + release, per admission + release).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pit_arbiter::{CandidateSpec, Conflict, LockTable, Mode, Outcome, Policy, Priority, Request, Scheduler, Selector};

/// 16 candidates with some history, so the Beta shapes differ.
fn selector(policy: Policy) -> Selector {
    let mut s = Selector::new(policy, 7);
    for i in 0..16 {
        s.add(&format!("c{i}"), CandidateSpec::default()).unwrap();
        for k in 0..(10 + 5 * i) {
            let o = Outcome {
                success: k % (2 + i % 3) != 0,
                latency: 0.1,
                cost: 1.0,
                quality: 0.5 + 0.03 * i as f64,
            };
            s.record(i as usize, o).unwrap();
        }
    }
    s
}

fn selector_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("selector");
    const BATCH: usize = 1024;
    group.throughput(Throughput::Elements(BATCH as u64));
    for policy in [Policy::Thompson, Policy::Ucb1, Policy::WeightedRandom] {
        let mut s = selector(policy);
        let mut out = Vec::with_capacity(BATCH);
        group.bench_function(format!("{policy}_choose_many_16"), |b| {
            b.iter(|| {
                out.clear();
                s.choose_many(BATCH, &mut out).unwrap();
                black_box(&out);
            })
        });
    }
    group.throughput(Throughput::Elements(1));
    for policy in [Policy::Thompson, Policy::Ucb1] {
        let mut s = selector(policy);
        group.bench_function(format!("{policy}_choose_16"), |b| {
            b.iter(|| black_box(s.choose().unwrap()))
        });
        let mut s = selector(policy);
        let mut k = 0u64;
        group.bench_function(format!("{policy}_choose_record_16"), |b| {
            b.iter(|| {
                let i = s.choose().unwrap();
                k += 1;
                let o = Outcome {
                    success: k % 3 != 0,
                    latency: 0.1,
                    cost: 1.0,
                    quality: 0.8,
                };
                s.record(i, o).unwrap();
            })
        });
    }
    group.finish();
}

fn lock_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("locks");
    group.throughput(Throughput::Elements(1));
    let mut t = LockTable::new();
    // Background holders, so the table is not empty.
    for i in 0..64 {
        t.request(i, &[(&format!("artifact{i}"), Mode::Shared)]).unwrap();
    }
    group.bench_function("request_release_uncontended_2", |b| {
        b.iter(|| {
            let (id, granted) = t
                .request(1, &[("artifact3", Mode::Shared), ("out.parquet", Mode::Exclusive)])
                .unwrap();
            debug_assert!(granted);
            black_box(t.release(id).unwrap());
        })
    });
    // Two owners taking turns on one writer lock: each release hands it over.
    let mut t = LockTable::new();
    let (mut held, _) = t.request(0, &[("model.bin", Mode::Exclusive)]).unwrap();
    let mut owner = 1u64;
    group.bench_function("handover_exclusive", |b| {
        b.iter(|| {
            let (next, granted) = t.request(owner, &[("model.bin", Mode::Exclusive)]).unwrap();
            debug_assert!(!granted);
            let got = t.release(held).unwrap();
            debug_assert_eq!(got, [next]);
            held = next;
            owner ^= 1;
        })
    });
    group.finish();
}

fn scheduler_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler");
    group.throughput(Throughput::Elements(1));
    let req = |who: &str, amount: f64| Request {
        requester: who.to_owned(),
        resource: "gpu".to_owned(),
        amount,
        priority: Priority::Normal,
    };
    let mut s = Scheduler::new(30.0).unwrap();
    s.add_resource("gpu", 8.0, Conflict::ModelContention).unwrap();
    let mut now = 0.0;
    group.bench_function("submit_release_uncontended", |b| {
        b.iter(|| {
            now += 0.001;
            let d = s.submit(req("alice", 1.0), now).unwrap();
            black_box(s.release(d.request, now).unwrap());
        })
    });
    // 8 weighted requesters, 4 waiting each, on a resource of 4 slots: every
    // release grants the next by priority and DRR, and its requester asks again.
    let names: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    let mut s = Scheduler::new(30.0).unwrap();
    s.add_resource("gpu", 4.0, Conflict::ModelContention).unwrap();
    for (i, n) in names.iter().enumerate() {
        s.set_weight(n, 1.0 + i as f64).unwrap();
    }
    let mut held = std::collections::VecDeque::new();
    for _ in 0..4 {
        for n in &names {
            let d = s.submit(req(n, 1.0), 0.0).unwrap();
            if d.request > 0 && s.is_granted(d.request) {
                held.push_back(d.request);
            }
        }
    }
    let mut now = 0.0;
    group.bench_function("release_grant_resubmit_8x4", |b| {
        b.iter(|| {
            now += 0.001;
            let id = held.pop_front().unwrap();
            for d in s.release(id, now).unwrap() {
                held.push_back(d.request);
                s.submit(req(&d.requester, 1.0), now).unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(arbiter, selector_benches, lock_benches, scheduler_benches);
criterion_main!(arbiter);
