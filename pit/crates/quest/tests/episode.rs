use pit_quest::{Call, Episode, Problem, solve};
use proptest::prelude::*;

/// map -> key (find), key -> unlocked (use, consumes key), unlocked -> open;
/// a fourth function makes a distractor kind.
fn door() -> Problem {
    Problem {
        needs: vec![0b0001, 0b0010, 0b0100, 0],
        consumes: vec![0, 0b0010, 0, 0],
        produces: vec![0b0010, 0b0100, 0b1000, 0b10000],
        cost: vec![1.0, 1.0, 1.0, 0.5],
        warmup: vec![2.0, 0.0, 0.0, 0.0],
        essential: 0b1000,
        extras: vec![],
        start: 0b0001,
        start_warm: 0,
        budget: 10.0,
    }
}

#[test]
fn calls_move_the_state_and_consume() {
    let mut e = Episode::new(door(), vec![0.0; 4]).unwrap();
    assert_eq!(e.legal(0), 0b1001); // find_key and the distractor
    assert_eq!(e.call(1, 0), Call::Illegal); // no key yet
    assert_eq!(e.call(9, 0), Call::Illegal); // no such function
    assert_eq!(e.call(0, 0), Call::Done { cost: 3.0 }); // cold: cost + warm-up
    assert_eq!(e.call(0, 0b1), Call::Done { cost: 1.0 }); // warm
    assert_eq!(e.call(1, 0b1), Call::Done { cost: 1.0 });
    assert_eq!(e.held() & 0b0010, 0, "use_key consumed the key");
    assert_eq!(e.made_needs(2), vec![2], "open_door builds on call 2");
    assert!(!e.won());
    assert_eq!(e.call(2, 0b1), Call::Done { cost: 1.0 });
    assert!(e.won());
    assert_eq!(e.calls(), &[0, 0, 1, 2]);
    assert_eq!(e.spent(), 6.0);
    e.reset(0);
    assert_eq!((e.held(), e.spent(), e.calls().len()), (0b0001, 0.0, 0));
}

#[test]
fn idle_calls_can_be_refused() {
    let mut e = Episode::new(door(), vec![0.0; 4]).unwrap();
    e.set_allow_idle(false);
    assert_eq!(e.call(0, 0), Call::Done { cost: 3.0 }); // find_key: a key now
    assert!(e.is_idle(0), "a second key changes nothing");
    assert_eq!(e.call(0, 0b1), Call::Illegal);
    assert_eq!(e.legal(0b1) & 0b1, 0, "and is not offered");
    assert_eq!(
        e.legal(0b1) & 0b10,
        0b10,
        "use_key consumes the key: it changes something"
    );
    assert_eq!(e.call(3, 0b1), Call::Done { cost: 0.5 }); // the distractor, once
    assert_eq!(e.legal(0b1) & 0b1000, 0, "not twice");
    e.set_allow_idle(true);
    assert_eq!(e.call(0, 0b1), Call::Done { cost: 1.0 }, "allowed, it is paid for");
}

#[test]
fn the_budget_bounds_what_is_legal() {
    let mut e = Episode::new(Problem { budget: 3.0, ..door() }, vec![0.0; 4]).unwrap();
    assert!(e.is_legal(0, 0)); // 1 + 2 fits exactly
    assert_eq!(e.call(0, 0), Call::Done { cost: 3.0 });
    assert_eq!(e.legal(0b1), 0, "nothing fits in a spent budget");
    assert_eq!(e.budget_left(), 0.0);
}

#[test]
fn failures_cost_but_change_nothing_and_follow_the_seed() {
    let run = |seed| {
        let mut e = Episode::new(door(), vec![0.5, 0.0, 0.0, 0.0]).unwrap();
        e.reset(seed);
        let outcomes: Vec<Call> = (0..6).map(|_| e.call(0, 0b1)).collect();
        (outcomes, e.failures(), e.held())
    };
    let (outcomes, failures, held) = run(7);
    assert_eq!(run(7), (outcomes.clone(), failures, held));
    assert!(failures > 0 && failures < 6, "p = 0.5 over 6 calls: {outcomes:?}");
    assert!(outcomes.iter().all(|c| c.cost() == 1.0));
    let sure = Episode::new(door(), vec![1.0, 0.0, 0.0, 0.0]).unwrap().call(0, 1);
    assert!(matches!(sure, Call::Failed { .. }));
}

#[test]
fn bad_failure_lists_are_refused() {
    let short = Episode::new(door(), vec![0.0; 3]).unwrap_err();
    assert!(short.contains("failure has 3 entries for 4 functions"), "{short}");
    let nan = Episode::new(door(), vec![0.0, f64::NAN, 0.0, 0.0]).unwrap_err();
    assert!(nan.contains("function 1"), "{nan}");
}

#[test]
fn cost_to_go_is_price_plus_h_add_after() {
    let e = Episode::new(door(), vec![0.0; 4]).unwrap();
    let to_go = e.cost_to_go(0);
    assert_eq!(to_go[0], 3.0 + 2.0); // cold find_key, then use and open
    assert_eq!(to_go[1], f64::INFINITY);
    assert_eq!(to_go[3], 0.5 + 3.0); // the distractor helps nothing
}

proptest! {
    /// Playing the exact solver's plan wins at the plan's cost when nothing fails.
    #[test]
    fn the_solvers_plan_plays_out(budget in 3.0f64..10.0, warmup in 0.0f64..3.0) {
        let p = Problem { budget, warmup: vec![warmup, 0.0, 0.0, 0.0], ..door() };
        let mut e = Episode::new(p.clone(), vec![0.0; 4]).unwrap();
        match solve(&p) {
            None => prop_assert!(budget < 3.0 + warmup),
            Some(s) => {
                let mut warm = 0u64;
                for &f in &s.calls {
                    let done = matches!(e.call(f as usize, warm), Call::Done { .. });
                    prop_assert!(done);
                    warm |= 1 << f;
                }
                prop_assert!(e.won());
                prop_assert!((e.spent() - s.cost).abs() < 1e-9);
            }
        }
    }
}
