//! Random operation sequences: after every step the bookkeeping is
//! consistent, the budget holds, and no instance is leased twice.

use std::collections::HashMap;

use pit_pool::{Eviction, FunctionSpec, Health, Lease, Pool, PoolConfig, Ticket};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Acquire(u32),
    Enqueue(u32, f64),
    Release(usize),
    Fail(usize),
    Advance(f64),
    /// Time passes with no tick: later calls must catch up on their own.
    Drift(f64),
    Unhealthy(u32),
    Prewarm(u32),
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4u32).prop_map(Op::Acquire),
        2 => (0..4u32, 0.0..5.0f64).prop_map(|(f, d)| Op::Enqueue(f, d)),
        4 => (0..16usize).prop_map(Op::Release),
        1 => (0..16usize).prop_map(Op::Fail),
        3 => (0.0..4.0f64).prop_map(Op::Advance),
        2 => (0.0..2.0f64).prop_map(Op::Drift),
        1 => (0..12u32).prop_map(Op::Unhealthy),
        1 => (0..4u32).prop_map(Op::Prewarm),
        1 => (0..16usize).prop_map(Op::Cancel),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn bookkeeping_holds(ops in prop::collection::vec(op(), 1..120), eviction in 0..3usize, cooldown in 0.0..2.0f64) {
        let mut p = Pool::new(PoolConfig {
            memory_budget: 50,
            eviction: [Eviction::Lru, Eviction::Lfu, Eviction::Largest][eviction],
            predictive: true,
            ..PoolConfig::default()
        }).unwrap();
        for (k, mem) in [10u64, 20, 15, 5].into_iter().enumerate() {
            p.register(&format!("f{k}"), FunctionSpec {
                max_instances: 3,
                warmup: k as f64 * 0.5,
                cooldown,
                memory: mem,
                idle_timeout: 3.0,
            }).unwrap();
        }
        let mut now = 0.0;
        let mut held: Vec<Lease> = Vec::new();
        let mut tickets: Vec<u64> = Vec::new();
        for op in ops {
            match op {
                Op::Acquire(f) => {
                    if let Some(g) = p.try_acquire(f, now).unwrap() {
                        held.push(g.lease);
                    }
                }
                Op::Enqueue(f, d) => {
                    tickets.push(p.enqueue(f, now, now + d).unwrap());
                    p.serve(now);
                }
                Op::Release(i) if !held.is_empty() => {
                    let l = held.swap_remove(i % held.len());
                    p.release(l, now).unwrap();
                }
                Op::Fail(i) if !held.is_empty() => {
                    let l = held.swap_remove(i % held.len());
                    p.fail(l, now).unwrap();
                }
                Op::Advance(d) => {
                    now += d;
                    p.tick(now);
                }
                Op::Drift(d) => now += d,
                Op::Unhealthy(id) => p.set_health(id, Health::Unhealthy, now).unwrap(),
                Op::Prewarm(f) => {
                    p.prewarm(f, 1, now).unwrap();
                }
                Op::Cancel(i) if !tickets.is_empty() => {
                    let t = tickets.swap_remove(i % tickets.len());
                    if let Some(g) = p.cancel_ticket(t, now) {
                        held.push(g.lease);
                    }
                }
                _ => {}
            }
            tickets.retain(|&t| match p.ticket(t) {
                Some(Ticket::Waiting) => true,
                _ => {
                    if let Some(Ticket::Granted(g)) = p.take_ticket(t) {
                        held.push(g.lease);
                    }
                    false
                }
            });
            if let Err(e) = p.check_invariants() {
                prop_assert!(false, "{e}");
            }
            let mut owners: HashMap<u32, u64> = HashMap::new();
            for l in &held {
                prop_assert!(p.is_held(*l), "lease {l:?} lost");
                prop_assert!(owners.insert(l.instance, l.serial).is_none(), "instance {} leased twice", l.instance);
            }
            prop_assert_eq!(p.busy() as usize, held.len());
        }
    }
}
