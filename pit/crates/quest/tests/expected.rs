use pit_quest::{ExpectedError, Problem, expected, solve};
use proptest::prelude::*;

/// map -> key (find), key -> unlocked (use, consumes key), unlocked -> open.
fn door() -> Problem {
    Problem {
        needs: vec![0b0001, 0b0010, 0b0100],
        consumes: vec![0, 0b0010, 0],
        produces: vec![0b0010, 0b0100, 0b1000],
        cost: vec![1.0, 1.0, 1.0],
        warmup: vec![0.0; 3],
        essential: 0b1000,
        extras: vec![],
        start: 0b0001,
        start_warm: 0,
        budget: f64::INFINITY,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * a.abs().max(1.0)
}

#[test]
fn retrying_a_failing_call_without_warm_up_costs_price_over_success_rate() {
    let e = expected(&door(), &[0.5, 0.0, 0.0], 1000).unwrap().unwrap();
    assert!(close(e.cost, 1.0 / 0.5 + 2.0), "{e:?}");
    assert_eq!(e.calls, vec![0, 1, 2]);
}

#[test]
fn a_call_that_almost_always_fails_is_solved_exactly_not_iterated() {
    // f: cost 1, warm-up 2, fails 99.99% (cold again each time); g: cost 1.
    let p = Problem {
        needs: vec![0b01, 0b10],
        consumes: vec![0, 0],
        produces: vec![0b10, 0b100],
        cost: vec![1.0, 1.0],
        warmup: vec![2.0, 0.0],
        essential: 0b100,
        extras: vec![],
        start: 0b01,
        start_warm: 0,
        budget: f64::INFINITY,
    };
    let e = expected(&p, &[0.9999, 0.0], 1000).unwrap().unwrap();
    assert!(close(e.cost, 3.0 / 0.0001 + 1.0), "{e:?}");
}

#[test]
fn after_a_failure_cools_a_warm_function_the_best_policy_switches() {
    // a: warm at the start, cost 1, fails half the time, 10 to warm again;
    // b: a sure fallback at 6. Best: try a once, then b: 1 + 0.5 * 6 = 4.
    let p = Problem {
        needs: vec![0b01, 0b01],
        consumes: vec![0, 0],
        produces: vec![0b10, 0b10],
        cost: vec![1.0, 6.0],
        warmup: vec![10.0, 0.0],
        essential: 0b10,
        extras: vec![],
        start: 0b01,
        start_warm: 0b01,
        budget: f64::INFINITY,
    };
    let e = expected(&p, &[0.5, 0.0], 1000).unwrap().unwrap();
    assert!(close(e.cost, 4.0), "{e:?}");
    assert_eq!(e.calls, vec![0]);
}

#[test]
fn calls_that_cost_nothing_do_not_trap_the_policy_in_a_loop() {
    // Free toggles between kinds 1 and 2 never win; the way out costs 5.
    let p = Problem {
        needs: vec![0b001, 0b010, 0b001],
        consumes: vec![0b001, 0b010, 0],
        produces: vec![0b010, 0b001, 0b100],
        cost: vec![0.0, 0.0, 5.0],
        warmup: vec![0.0; 3],
        essential: 0b100,
        extras: vec![],
        start: 0b001,
        start_warm: 0,
        budget: f64::INFINITY,
    };
    let e = expected(&p, &[0.0, 0.0, 0.0], 1000).unwrap().unwrap();
    assert!(close(e.cost, 5.0), "{e:?}");
    assert_eq!(e.calls, vec![2]);
}

#[test]
fn no_sure_win_and_too_many_states_are_told_apart() {
    assert_eq!(expected(&door(), &[1.0, 0.0, 0.0], 1000), Ok(None));
    assert_eq!(expected(&door(), &[0.0; 3], 2), Err(ExpectedError::TooManyStates(2)));
}

fn problems() -> impl Strategy<Value = (Problem, Vec<f64>)> {
    (1usize..=5).prop_flat_map(|n| {
        let masks = || prop::collection::vec(0u64..16, n);
        (
            masks(),
            masks(),
            masks(),
            prop::collection::vec(0u8..5, n),
            prop::collection::vec(0u8..3, n),
            1u64..16,
            prop::collection::vec(0u8..3, n),
        )
            .prop_map(|(needs, consumes, produces, cost, warmup, essential, fail)| {
                let p = Problem {
                    needs,
                    consumes,
                    produces,
                    cost: cost.into_iter().map(f64::from).collect(),
                    warmup: warmup.into_iter().map(f64::from).collect(),
                    essential,
                    extras: vec![(0b10000, 1.5)],
                    start: 0b0001,
                    start_warm: 0,
                    budget: f64::INFINITY,
                };
                (p, fail.into_iter().map(|k| f64::from(k) * 0.3).collect())
            })
    })
}

proptest! {
    /// Without failures the expectation is the exact plan's objective.
    #[test]
    fn without_failures_it_is_the_exact_optimum((p, _) in problems()) {
        let e = expected(&p, &vec![0.0; p.len()], 100_000).unwrap();
        let s = solve(&p);
        prop_assert_eq!(e.is_some(), s.is_some());
        if let (Some(e), Some(s)) = (e, s) {
            prop_assert!(close(e.cost - e.bonus, s.cost - s.bonus), "{:?} {:?}", e, s);
        }
    }

    /// Failures never make the best policy cheaper, and a policy that wins
    /// surely exists whenever a plan does (every failure here is below 1).
    #[test]
    fn failures_cost_at_least_the_sure_optimum((p, fail) in problems()) {
        let sure = solve(&p);
        let e = expected(&p, &fail, 100_000).unwrap();
        prop_assert_eq!(e.is_some(), sure.is_some());
        if let (Some(e), Some(s)) = (e, sure) {
            prop_assert!(e.cost - e.bonus >= s.cost - s.bonus - 1e-9, "{:?} {:?}", e, s);
        }
    }
}
