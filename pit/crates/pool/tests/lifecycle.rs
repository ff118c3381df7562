use pit_pool::{Eviction, FunctionSpec, Health, InstanceState, Pool, PoolConfig, PoolError, Reason, Ticket};

fn spec(max: u32, warmup: f64, memory: u64, idle: f64) -> FunctionSpec {
    FunctionSpec {
        max_instances: max,
        warmup,
        cooldown: 0.0,
        memory,
        idle_timeout: idle,
    }
}

fn pool(budget: u64) -> Pool {
    Pool::new(PoolConfig {
        memory_budget: budget,
        ..PoolConfig::default()
    })
    .unwrap()
}

fn transitions(p: &Pool) -> Vec<(InstanceState, InstanceState, Reason)> {
    p.events_since(0).map(|e| (e.from, e.to, e.reason)).collect()
}

#[test]
fn cold_start_then_hit() {
    let mut p = pool(100);
    let f = p.register("llm", spec(2, 2.0, 10, 30.0)).unwrap();
    let g = p.try_acquire(f, 0.0).unwrap().unwrap();
    assert!(g.cold_start);
    assert_eq!(g.ready_at, 2.0);
    assert_eq!(p.lease_state(g.lease).unwrap(), InstanceState::Warming);
    p.tick(2.0);
    assert_eq!(p.lease_state(g.lease).unwrap(), InstanceState::Busy);
    p.release(g.lease, 3.0).unwrap();
    let h = p.try_acquire(f, 4.0).unwrap().unwrap();
    assert!(!h.cold_start);
    assert_eq!(h.lease.instance, g.lease.instance);
    assert_eq!(h.ready_at, 4.0);
    let s = p.stats();
    assert_eq!((s.hits, s.misses, s.cold_starts), (1, 1, 1));
    assert_eq!(s.hit_rate(), 0.5);
    use InstanceState::*;
    assert_eq!(
        transitions(&p),
        vec![
            (Cold, Warming, Reason::UserRequest),
            (Warming, Busy, Reason::UserRequest)
        ]
    );
    p.check_invariants().unwrap();
}

#[test]
fn idle_timeout_cools() {
    use InstanceState::*;
    let mut p = pool(100);
    let f = p.register("tool", spec(1, 0.0, 10, 5.0)).unwrap();
    let g = p.try_acquire(f, 0.0).unwrap().unwrap();
    p.release(g.lease, 1.0).unwrap();
    p.tick(5.9);
    assert_eq!(p.instance_state(g.lease.instance).unwrap().1, Idle);
    p.tick(6.0);
    assert_eq!(p.instance_state(g.lease.instance).unwrap().1, Cold);
    let ev: Vec<_> = p.events_since(0).map(|e| (e.from, e.to, e.reason, e.time)).collect();
    assert_eq!(ev[2], (Idle, Cooling, Reason::IdleTimeout, 6.0));
    assert_eq!(ev[3], (Cooling, Cold, Reason::IdleTimeout, 6.0));
    assert_eq!(p.stats().memory_used, 0);
    // The lazy path: an acquire after the timeout, with no tick in between, is a cold start.
    let g = p.try_acquire(f, 7.0).unwrap().unwrap();
    p.release(g.lease, 7.0).unwrap();
    let g = p.try_acquire(f, 100.0).unwrap().unwrap();
    assert!(g.cold_start);
    p.check_invariants().unwrap();
}

#[test]
fn cooldown_holds_memory_until_cold() {
    let mut p = pool(10);
    let a = p
        .register(
            "a",
            FunctionSpec {
                cooldown: 3.0,
                ..spec(1, 0.0, 10, 1.0)
            },
        )
        .unwrap();
    let b = p.register("b", spec(1, 0.0, 10, 1.0)).unwrap();
    let g = p.try_acquire(a, 0.0).unwrap().unwrap();
    p.release(g.lease, 0.0).unwrap();
    // b needs a's memory. A try that will not wait evicts nothing, since a's
    // memory would only come free after its cooldown.
    assert!(p.try_acquire(b, 0.5).unwrap().is_none());
    assert_eq!(p.instance_state(g.lease.instance).unwrap().1, InstanceState::Idle);
    assert_eq!(p.stats().evictions, 0);
    // A queued acquire does evict: a holds the memory while it cools.
    let t = p.enqueue(b, 0.5, 10.0).unwrap();
    p.serve(0.5);
    assert_eq!(p.instance_state(g.lease.instance).unwrap().1, InstanceState::Cooling);
    p.tick(3.4);
    assert_eq!(p.ticket(t), Some(Ticket::Waiting));
    p.tick(3.5);
    let Some(Ticket::Granted(g)) = p.ticket(t) else {
        panic!("not granted")
    };
    assert_eq!(g.waited, 3.0);
    assert_eq!(p.stats().evictions, 1);
    p.check_invariants().unwrap();
}

#[test]
fn eviction_policies_pick_their_victim() {
    for (policy, victim) in [(Eviction::Lru, "a"), (Eviction::Lfu, "b"), (Eviction::Largest, "c")] {
        let mut p = Pool::new(PoolConfig {
            memory_budget: 100,
            eviction: policy,
            ..PoolConfig::default()
        })
        .unwrap();
        let a = p.register("a", spec(1, 0.0, 30, 99.0)).unwrap();
        let b = p.register("b", spec(1, 0.0, 30, 99.0)).unwrap();
        let c = p.register("c", spec(1, 0.0, 40, 99.0)).unwrap();
        let d = p.register("d", spec(1, 0.0, 30, 99.0)).unwrap();
        // a is used three times, c twice, b once; a is released first.
        for (f, uses, t) in [(a, 3, 0.0), (b, 1, 1.0), (c, 2, 2.0)] {
            for _ in 0..uses {
                let g = p.try_acquire(f, t).unwrap().unwrap();
                p.release(g.lease, t).unwrap();
            }
        }
        let g = p.try_acquire(d, 3.0).unwrap().unwrap();
        assert!(g.cold_start);
        let evicted: Vec<_> = p
            .events_since(0)
            .filter(|e| e.reason == Reason::ResourcePressure && e.to == InstanceState::Cooling)
            .map(|e| p.function_name(e.function).to_owned())
            .collect();
        assert_eq!(evicted, vec![victim.to_owned()], "{policy:?}");
        p.check_invariants().unwrap();
    }
}

#[test]
fn queue_is_fifo_and_times_out() {
    let mut p = pool(100);
    let f = p.register("f", spec(1, 0.0, 1, 99.0)).unwrap();
    let held = p.try_acquire(f, 0.0).unwrap().unwrap();
    assert!(p.try_acquire(f, 0.0).unwrap().is_none());
    let t1 = p.enqueue(f, 0.0, 5.0).unwrap();
    let t2 = p.enqueue(f, 0.1, 1.0).unwrap();
    let t3 = p.enqueue(f, 0.2, 50.0).unwrap();
    p.tick(1.0);
    assert_eq!(p.ticket(t2), Some(Ticket::TimedOut { waited: 0.9 }));
    p.release(held.lease, 2.0).unwrap();
    assert!(matches!(p.ticket(t1), Some(Ticket::Granted(_))));
    assert_eq!(p.ticket(t3), Some(Ticket::Waiting));
    // No barging: a newcomer does not overtake t3.
    let Some(Ticket::Granted(g1)) = p.take_ticket(t1) else {
        panic!()
    };
    assert!(p.try_acquire(f, 2.5).unwrap().is_none());
    p.release(g1.lease, 3.0).unwrap();
    assert!(matches!(p.take_ticket(t3), Some(Ticket::Granted(_))));
    assert_eq!(p.stats().timeouts, 1);
    p.check_invariants().unwrap();
}

#[test]
fn lease_misuse_is_refused() {
    let mut p = pool(100);
    let f = p.register("f", spec(1, 0.0, 1, 99.0)).unwrap();
    let g = p.try_acquire(f, 0.0).unwrap().unwrap();
    p.release(g.lease, 0.0).unwrap();
    let err = p.release(g.lease, 0.0).unwrap_err();
    assert!(err.to_string().contains("already released"), "{err}");
    let g2 = p.try_acquire(f, 0.0).unwrap().unwrap();
    // The stale lease names the same instance but cannot release the new holder.
    assert!(p.release(g.lease, 0.0).is_err());
    assert!(p.is_held(g2.lease));
    let mut forged = g2.lease;
    forged.serial += 100;
    assert!(
        p.release(forged, 0.0)
            .unwrap_err()
            .to_string()
            .contains("not handed out")
    );
}

#[test]
fn bad_specs_name_the_field() {
    let mut p = pool(100);
    let e = p
        .register(
            "x",
            FunctionSpec {
                warmup: -1.0,
                ..FunctionSpec::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "function 'x': warmup must be finite and >= 0, got -1");
    let e = p
        .register(
            "x",
            FunctionSpec {
                max_instances: 0,
                ..FunctionSpec::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("max_instances"));
    let e = p
        .register(
            "x",
            FunctionSpec {
                memory: 101,
                ..FunctionSpec::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("exceeds the pool's memory_budget 100"));
    p.register("x", FunctionSpec::default()).unwrap();
    assert_eq!(
        p.register("x", FunctionSpec::default()).unwrap_err(),
        PoolError::DuplicateFunction("x".into())
    );
    assert_eq!(p.function("y").unwrap_err(), PoolError::UnknownFunction("y".into()));
    let e = Pool::new(PoolConfig {
        rate_tau: 0.0,
        ..PoolConfig::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("rate_tau"));
}

#[test]
fn health_failure_recovers_to_cold() {
    use InstanceState::*;
    let mut p = pool(100);
    let f = p.register("f", spec(2, 0.0, 10, 99.0)).unwrap();
    let g = p.try_acquire(f, 0.0).unwrap().unwrap();
    let h = p.try_acquire(f, 0.0).unwrap().unwrap();
    p.release(h.lease, 0.0).unwrap();
    p.set_health(h.lease.instance, Health::Unhealthy, 1.0).unwrap();
    assert_eq!(p.instance_state(h.lease.instance).unwrap().1, Cold);
    // A leased instance fails now and goes cold when handed back.
    p.set_health(g.lease.instance, Health::Unhealthy, 1.0).unwrap();
    assert_eq!(p.instance_state(g.lease.instance).unwrap().1, Failed);
    p.release(g.lease, 2.0).unwrap();
    assert_eq!(p.instance_state(g.lease.instance).unwrap().1, Cold);
    let reasons: Vec<_> = p
        .events_since(0)
        .filter(|e| e.to == Failed || e.from == Failed)
        .map(|e| e.reason)
        .collect();
    assert_eq!(
        reasons,
        vec![
            Reason::HealthCheckFailure,
            Reason::ErrorRecovery,
            Reason::HealthCheckFailure,
            Reason::ErrorRecovery
        ]
    );
    assert_eq!(p.stats().memory_used, 0);
    // A reported failure goes the same way.
    let g = p.try_acquire(f, 3.0).unwrap().unwrap();
    p.fail(g.lease, 3.0).unwrap();
    assert_eq!(p.instance_state(g.lease.instance).unwrap().1, Cold);
    assert_eq!(p.stats().failures, 3);
    p.check_invariants().unwrap();
}

#[test]
fn shutdown_drains_leases_first() {
    use InstanceState::*;
    let mut p = pool(100);
    let f = p.register("f", spec(3, 1.0, 10, 99.0)).unwrap();
    let busy = p.try_acquire(f, 0.0).unwrap().unwrap();
    let idle = p.try_acquire(f, 0.0).unwrap().unwrap();
    p.tick(1.0);
    p.release(idle.lease, 1.0).unwrap();
    p.prewarm(f, 1, 1.0).unwrap();
    let full = p.try_acquire(f, 1.0).unwrap().unwrap();
    let t = p.enqueue(f, 1.0, 9.0).unwrap();
    assert_eq!(p.begin_shutdown(1.5), 2);
    assert_eq!(p.ticket(t), Some(Ticket::Closed));
    assert!(!p.is_drained());
    assert_eq!(p.try_acquire(f, 1.5).unwrap_err(), PoolError::Closed);
    p.release(busy.lease, 2.0).unwrap();
    p.tick(2.0);
    p.release(full.lease, 2.0).unwrap();
    assert!(p.is_drained());
    assert!(p.instances(f).iter().all(|&(_, s, _)| s == Cold));
    assert!(p.events_since(0).any(|e| e.reason == Reason::ScheduledCooldown));
    p.check_invariants().unwrap();
}

#[test]
fn prediction_prewarms_and_keeps_warm() {
    let mut p = Pool::new(PoolConfig {
        rate_tau: 60.0,
        prewarm_horizon: 30.0,
        predictive: true,
        ..PoolConfig::default()
    })
    .unwrap();
    let f = p.register("f", spec(4, 5.0, 1, 2.0)).unwrap();
    assert!(p.suggest_prewarm(0.0).is_empty());
    // Three concurrent leases, a few times: demand for three instances.
    for round in 0..3 {
        let t = f64::from(round) * 10.0;
        let gs: Vec<_> = (0..3).map(|_| p.try_acquire(f, t).unwrap().unwrap()).collect();
        p.tick(t + 5.0);
        for g in gs {
            p.release(g.lease, t + 6.0).unwrap();
        }
    }
    assert_eq!(p.desired(f, 30.0), 3);
    // Idle timeout passed long ago, yet prediction keeps all three hot.
    p.tick(40.0);
    assert_eq!(p.function_stats(f, 40.0).counts[InstanceState::Idle as usize], 3);
    // Without use the demand decays and the instances cool.
    p.tick(400.0);
    assert_eq!(p.function_stats(f, 400.0).counts[InstanceState::Idle as usize], 0);
}

#[test]
fn virtual_clock_only_moves_forward() {
    let mut c = pit_pool::Clock::virtual_at(1.0);
    assert_eq!(c.advance_to(2.5).unwrap(), 2.5);
    assert!(
        c.advance_to(2.0)
            .unwrap_err()
            .to_string()
            .contains("only moves forward")
    );
    assert!(pit_pool::Clock::wall().advance_to(1.0).is_err());
}

#[test]
fn a_late_tick_keeps_idle_order_and_acquire_terminates() {
    // A warm-up finished by a late tick is dated before a release already listed.
    let mut p = pool(100);
    let f = p.register("f", spec(2, 0.3, 1, 1.0)).unwrap();
    let a = p.try_acquire(f, 0.0).unwrap().unwrap();
    p.tick(0.35);
    p.prewarm(f, 1, 0.35).unwrap();
    p.release(a.lease, 0.8).unwrap();
    p.tick(0.8);
    p.check_invariants().unwrap();
    let g = p.try_acquire(f, 1.7).unwrap().unwrap();
    assert!(!g.cold_start);
    assert_eq!(g.lease.instance, a.lease.instance);
    p.check_invariants().unwrap();
}

#[test]
fn a_big_tick_runs_timers_in_time_order() {
    // Memory frees at 3 (cooldown end); a wait with a 5 s deadline gets it.
    let mut p = pool(10);
    let a = p
        .register(
            "a",
            FunctionSpec {
                cooldown: 3.0,
                ..spec(1, 0.0, 10, 99.0)
            },
        )
        .unwrap();
    let b = p.register("b", spec(1, 0.0, 10, 99.0)).unwrap();
    let g = p.try_acquire(a, 0.0).unwrap().unwrap();
    p.release(g.lease, 0.0).unwrap();
    let t = p.enqueue(b, 0.0, 5.0).unwrap();
    p.serve(0.0);
    p.tick(10.0);
    let Some(Ticket::Granted(grant)) = p.ticket(t) else {
        panic!("{:?}", p.ticket(t))
    };
    assert_eq!(grant.waited, 3.0);
    let reasons: Vec<_> = p
        .events_since(0)
        .filter(|e| e.to == InstanceState::Cold)
        .map(|e| e.reason)
        .collect();
    assert_eq!(reasons, vec![Reason::ResourcePressure]);
}

#[test]
fn the_simulator_loop_ends_at_large_times() {
    for start in [0.0, 1.7e9, 1e12] {
        let mut p = Pool::new(PoolConfig {
            predictive: true,
            rate_tau: 10.0,
            ..PoolConfig::default()
        })
        .unwrap();
        let f = p.register("f", spec(2, 0.0, 1, 1.0)).unwrap();
        let g = p.try_acquire(f, start).unwrap().unwrap();
        p.release(g.lease, start).unwrap();
        let mut now = start + 0.1;
        p.tick(now);
        let mut steps = 0;
        while let Some(t) = p.next_deadline() {
            now = now.max(t);
            p.tick(now);
            steps += 1;
            assert!(steps < 10, "no progress at start {start}: t = {t}");
        }
        assert_eq!(p.instances(f)[0].1, InstanceState::Cold, "start {start}");
    }
}

#[test]
fn a_grant_at_its_deadline_does_not_stop_the_tick() {
    // The earliest timer is a wait that is served right at its deadline;
    // warm-ups due later in the same tick must still finish.
    let mut p = pool(100);
    let f = p.register("f", spec(1, 0.0, 1, 99.0)).unwrap();
    let k = p.register("k", spec(1, 2.0, 1, 99.0)).unwrap();
    let held = p.try_acquire(f, 0.0).unwrap().unwrap();
    let t = p.enqueue(f, 0.0, 1.0).unwrap();
    let warm = p.try_acquire(k, 0.0).unwrap().unwrap();
    p.release(held.lease, 1.0).unwrap();
    p.tick(5.0);
    assert!(matches!(p.ticket(t), Some(Ticket::Granted(_))));
    assert_eq!(p.lease_state(warm.lease).unwrap(), InstanceState::Busy);
    assert!(p.next_deadline().is_none_or(|d| d > 5.0));
}

/// f needs 10 of a budget of 20: g holds 10 while cooling until t = 1000,
/// h holds 10 idle and frees it at once when evicted.
fn cooling_g_and_idle_h() -> (Pool, u32) {
    let mut p = pool(20);
    let f = p.register("f", spec(2, 0.0, 10, 99.0)).unwrap();
    let g = p
        .register(
            "g",
            FunctionSpec {
                cooldown: 1000.0,
                ..spec(1, 0.0, 10, 99.0)
            },
        )
        .unwrap();
    let h = p.register("h", spec(1, 0.0, 10, 99.0)).unwrap();
    let lg = p.try_acquire(g, 0.0).unwrap().unwrap();
    p.release(lg.lease, 0.0).unwrap();
    p.cool_instance(lg.lease.instance, 0.0).unwrap();
    let lh = p.try_acquire(h, 0.0).unwrap().unwrap();
    p.release(lh.lease, 0.0).unwrap();
    (p, f)
}

#[test]
fn a_waiter_evicts_what_frees_memory_in_time() {
    let (mut p, f) = cooling_g_and_idle_h();
    assert!(p.try_acquire(f, 0.5).unwrap().is_some(), "h frees its memory at once");
    // The same for a queued acquire, which may also wait for memory.
    let (mut p, f) = cooling_g_and_idle_h();
    let t = p.enqueue(f, 0.5, f64::INFINITY).unwrap();
    p.serve(0.5);
    assert!(matches!(p.ticket(t), Some(Ticket::Granted(_))), "{:?}", p.ticket(t));
}

#[test]
fn a_queue_blocked_on_an_instance_does_not_stop_other_cold_starts() {
    let mut p = pool(u64::MAX);
    let f = p.register("f", spec(1, 0.0, 1, 99.0)).unwrap();
    let g = p.register("g", spec(1, 0.0, 1, 99.0)).unwrap();
    let _held = p.try_acquire(f, 0.0).unwrap().unwrap();
    let _t = p.enqueue(f, 0.0, 10.0).unwrap();
    p.serve(0.0);
    assert!(p.try_acquire(g, 0.0).unwrap().is_some());
}
