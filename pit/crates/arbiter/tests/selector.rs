//! The selector's policies, statistics, batches and errors.

use pit_arbiter::{ArbiterError, CandidateSpec, Outcome, Policy, Selector};

fn spec(weight: f64, priority: i32, prior_quality: f64) -> CandidateSpec {
    CandidateSpec {
        weight,
        priority,
        prior_quality,
    }
}

fn outcome(success: bool, latency: f64, cost: f64, quality: f64) -> Outcome {
    Outcome {
        success,
        latency,
        cost,
        quality,
    }
}

fn ok(quality: f64) -> Outcome {
    outcome(true, 0.1, 1.0, quality)
}

fn selector(policy: Policy, specs: &[CandidateSpec]) -> Selector {
    let mut s = Selector::new(policy, 42);
    for (i, sp) in specs.iter().enumerate() {
        assert_eq!(s.add(&format!("c{i}"), *sp).unwrap(), i);
    }
    s
}

fn plain(n: usize) -> Vec<CandidateSpec> {
    vec![CandidateSpec::default(); n]
}

#[test]
fn policy_names_round_trip_and_a_typo_lists_the_valid_ones() {
    for p in Policy::ALL {
        assert_eq!(p.name().parse::<Policy>().unwrap(), p);
        assert_eq!(p.to_string(), p.name());
    }
    let err = "thomson".parse::<Policy>().unwrap_err();
    assert_eq!(err, ArbiterError::InvalidPolicy("thomson".into()));
    assert_eq!(
        err.to_string(),
        "unknown policy 'thomson'; expected one of: priority, round_robin, weighted_random, least_loaded, \
         quality_first, ucb1, thompson"
    );
}

#[test]
fn candidate_spec_defaults() {
    assert_eq!(CandidateSpec::default(), spec(1.0, 0, 1.0));
}

#[test]
fn names_and_indices() {
    let mut s = selector(Policy::Priority, &plain(2));
    assert_eq!(s.len(), 2);
    assert_eq!(s.index("c1"), Some(1));
    assert_eq!(s.index("nope"), None);
    assert_eq!(s.name(0), Some("c0"));
    assert_eq!(s.name(2), None);
    assert_eq!(s.policy(), Policy::Priority);
    s.set_policy(Policy::Ucb1);
    assert_eq!(s.policy(), Policy::Ucb1);
}

#[test]
fn bad_inputs_give_the_right_errors() {
    let mut s = Selector::new(Policy::RoundRobin, 1);
    assert_eq!(s.choose(), Err(ArbiterError::NoCandidates));
    assert_eq!(s.choose_many(3, &mut Vec::new()), Err(ArbiterError::NoCandidates));
    s.add("a", CandidateSpec::default()).unwrap();
    assert_eq!(
        s.add("a", CandidateSpec::default()),
        Err(ArbiterError::DuplicateCandidate("a".into()))
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = s.add("b", spec(bad, 0, 1.0)).unwrap_err();
        assert!(
            matches!(&e, ArbiterError::InvalidArgument(m) if m.contains("weight")),
            "{e}"
        );
    }
    for bad in [-0.1, 1.5, f64::NAN] {
        let e = s.add("b", spec(1.0, 0, bad)).unwrap_err();
        assert!(
            matches!(&e, ArbiterError::InvalidArgument(m) if m.contains("prior_quality")),
            "{e}"
        );
    }
    assert_eq!(s.len(), 1, "a refused candidate is not added");
    assert!(matches!(
        s.choose_among(&[0, 5]),
        Err(ArbiterError::UnknownCandidate(_))
    ));
    assert_eq!(s.choose_among(&[]), Err(ArbiterError::NoCandidates));
    let e = s.record(3, ok(1.0)).unwrap_err();
    assert_eq!(e, ArbiterError::UnknownCandidate("index 3 (there are 1)".into()));
    assert_eq!(e.to_string(), "unknown candidate index 3 (there are 1)");
    for (o, field) in [
        (outcome(true, -1.0, 0.0, 1.0), "latency"),
        (outcome(true, f64::NAN, 0.0, 1.0), "latency"),
        (outcome(true, 0.0, f64::INFINITY, 1.0), "cost"),
        (outcome(true, 0.0, -2.0, 1.0), "cost"),
        (outcome(true, 0.0, 0.0, 1.1), "quality"),
        (outcome(true, 0.0, 0.0, f64::NAN), "quality"),
    ] {
        let e = s.record(0, o).unwrap_err();
        assert!(
            matches!(&e, ArbiterError::InvalidArgument(m) if m.contains(field)),
            "{e}"
        );
    }
    // A bad entry anywhere in a batch records none of it.
    assert!(s.record_many(&[(0, ok(1.0)), (0, ok(2.0))]).is_err());
    assert!(s.record_many(&[(0, ok(1.0)), (9, ok(1.0))]).is_err());
    assert_eq!(s.stats(0).records(), 0);
}

#[test]
fn choosing_and_recording_keep_the_counts_and_running_means() {
    let mut s = selector(Policy::Priority, &plain(1));
    for _ in 0..3 {
        s.choose().unwrap();
    }
    assert_eq!((s.stats(0).chosen, s.stats(0).in_flight), (3, 3));
    s.record(0, outcome(true, 1.0, 2.0, 0.5)).unwrap();
    s.record_many(&[(0, outcome(false, 3.0, 4.0, 0.0)), (0, outcome(true, 2.0, 0.0, 1.0))])
        .unwrap();
    s.record(0, outcome(true, 2.0, 2.0, 0.5)).unwrap();
    let st = *s.stats(0);
    assert_eq!((st.successes, st.failures, st.chosen), (3, 1, 3));
    assert_eq!(st.in_flight, 0, "in flight saturates at zero");
    assert!((st.mean_latency - 2.0).abs() < 1e-12);
    assert!((st.mean_cost - 2.0).abs() < 1e-12);
    assert!((st.mean_quality - 0.5).abs() < 1e-12);
    assert_eq!(s.total_records(), 4);
}

#[test]
fn priority_takes_the_highest_and_the_lowest_index_on_ties() {
    let mut s = selector(
        Policy::Priority,
        &[
            spec(1.0, 1, 1.0),
            spec(1.0, 5, 1.0),
            spec(1.0, 5, 1.0),
            spec(1.0, -3, 1.0),
        ],
    );
    for _ in 0..5 {
        assert_eq!(s.choose().unwrap(), 1);
    }
    assert_eq!(s.choose_among(&[3, 2, 0]).unwrap(), 2);
    assert_eq!(s.choose_among(&[3, 0]).unwrap(), 0);
}

#[test]
fn round_robin_cycles_and_follows_among() {
    let mut s = selector(Policy::RoundRobin, &plain(4));
    let got: Vec<usize> = (0..6).map(|_| s.choose().unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3, 0, 1]);
    // The cursor is at 2: the next of `among` at or after it, wrapping.
    assert_eq!(s.choose_among(&[3, 1]).unwrap(), 3);
    assert_eq!(s.choose_among(&[3, 1]).unwrap(), 1);
    assert_eq!(s.choose_among(&[3, 1]).unwrap(), 3);
    assert_eq!(s.choose().unwrap(), 0);
}

#[test]
fn weighted_random_follows_the_weights() {
    let mut s = selector(
        Policy::WeightedRandom,
        &[spec(1.0, 0, 1.0), spec(3.0, 0, 1.0), spec(6.0, 0, 1.0)],
    );
    let mut out = Vec::new();
    s.choose_many(100_000, &mut out).unwrap();
    let mut counts = [0usize; 3];
    for &i in &out {
        counts[i] += 1;
    }
    for (c, share) in counts.iter().zip([0.1, 0.3, 0.6]) {
        let got = *c as f64 / 100_000.0;
        assert!((got - share).abs() < 0.01, "{counts:?}");
    }
    // Restricted to two, the shares renormalise: 1 : 6.
    let mut n0 = 0;
    for _ in 0..20_000 {
        if s.choose_among(&[0, 2]).unwrap() == 0 {
            n0 += 1;
        }
    }
    assert!((n0 as f64 / 20_000.0 - 1.0 / 7.0).abs() < 0.015, "{n0}");
}

#[test]
fn least_loaded_spreads_by_in_flight_then_latency() {
    let mut s = selector(Policy::LeastLoaded, &plain(3));
    s.record(0, outcome(true, 5.0, 0.0, 1.0)).unwrap();
    s.record(1, outcome(true, 1.0, 0.0, 1.0)).unwrap();
    s.record(2, outcome(true, 3.0, 0.0, 1.0)).unwrap();
    // All idle: the fastest first, then the next fastest, ...
    let got: Vec<usize> = (0..6).map(|_| s.choose().unwrap()).collect();
    assert_eq!(got, [1, 2, 0, 1, 2, 0]);
    s.record(2, ok(1.0)).unwrap();
    assert_eq!(s.stats(2).in_flight, 1);
    assert_eq!(s.choose().unwrap(), 2);
    // Equal load and latency: the lowest index.
    let mut t = selector(Policy::LeastLoaded, &plain(3));
    assert_eq!(t.choose_among(&[2, 1]).unwrap(), 1);
}

#[test]
fn quality_first_weighs_success_rate_and_quality_and_breaks_ties_by_cost() {
    let mut s = selector(
        Policy::QualityFirst,
        &[spec(1.0, 0, 0.5), spec(1.0, 0, 0.9), spec(1.0, 0, 0.9)],
    );
    // No records: priors decide; 1 and 2 tie, the lower index wins.
    assert_eq!(s.choose().unwrap(), 1);
    // 1 fails twice: (0+1)/(2+2) × mean quality 0.9 = 0.225 < 2's 0.5 × 0.9.
    s.record(1, outcome(false, 0.0, 1.0, 0.9)).unwrap();
    s.record(1, outcome(false, 0.0, 1.0, 0.9)).unwrap();
    assert_eq!(s.choose().unwrap(), 2);
    // Equal scores: the lower mean cost wins, whatever the index.
    let mut t = selector(Policy::QualityFirst, &plain(2));
    t.record(0, outcome(true, 0.0, 5.0, 1.0)).unwrap();
    t.record(1, outcome(true, 0.0, 2.0, 1.0)).unwrap();
    assert_eq!(t.choose().unwrap(), 1);
}

#[test]
fn ucb1_tries_every_unrecorded_candidate_first_then_trades_off() {
    let mut s = selector(Policy::Ucb1, &plain(3));
    for i in 0..3 {
        assert_eq!(s.choose().unwrap(), i);
        s.record(i, outcome(i == 1, 0.0, 0.0, 1.0)).unwrap();
    }
    // All tried once: 1 has mean 1, the others 0, same bonus.
    assert_eq!(s.choose().unwrap(), 1);
    // With enough failures of 1 the bonus of the others wins out.
    for _ in 0..20 {
        s.record(1, outcome(false, 0.0, 0.0, 1.0)).unwrap();
    }
    assert_ne!(s.choose().unwrap(), 1);
    // Reward is success × quality: a success of quality 0 earns nothing.
    let mut t = selector(Policy::Ucb1, &plain(2));
    t.record(0, outcome(true, 0.0, 0.0, 0.0)).unwrap();
    t.record(1, outcome(true, 0.0, 0.0, 0.8)).unwrap();
    assert_eq!(t.choose().unwrap(), 1);
    assert_eq!(t.choose_among(&[0]).unwrap(), 0);
}

#[test]
fn thompson_prefers_the_better_and_the_higher_quality() {
    let mut s = selector(Policy::Thompson, &plain(3));
    for _ in 0..50 {
        s.record(0, outcome(true, 0.0, 0.0, 0.3)).unwrap();
        s.record(1, outcome(true, 0.0, 0.0, 0.9)).unwrap();
        s.record(2, outcome(false, 0.0, 0.0, 0.9)).unwrap();
    }
    let mut out = Vec::new();
    s.choose_many(1000, &mut out).unwrap();
    let ones = out.iter().filter(|&&i| i == 1).count();
    assert!(ones > 990, "{ones}");
    // Among 0 and 2 the success rate dominates the quality.
    let zeros = (0..1000).filter(|_| s.choose_among(&[2, 0]).unwrap() == 0).count();
    assert!(zeros > 990, "{zeros}");
    // With no records, the prior quality scales the draw.
    let mut t = selector(Policy::Thompson, &[spec(1.0, 0, 0.0), spec(1.0, 0, 1.0)]);
    assert!((0..100).all(|_| t.choose().unwrap() == 1));
    // All scores zero: the lowest index.
    let mut z = selector(
        Policy::Thompson,
        &[spec(1.0, 0, 0.0), spec(1.0, 0, 0.0), spec(1.0, 0, 0.0)],
    );
    assert_eq!(z.choose_among(&[2, 1]).unwrap(), 1);
}

#[test]
fn choose_many_is_n_calls_of_choose() {
    for policy in Policy::ALL {
        let specs = [
            spec(1.0, 2, 0.7),
            spec(2.0, 1, 0.9),
            spec(0.5, 3, 0.4),
            spec(4.0, 0, 1.0),
        ];
        let mut one = selector(policy, &specs);
        let mut many = selector(policy, &specs);
        for s in [&mut one, &mut many] {
            for i in 0..3 {
                s.record(i, outcome(i % 2 == 0, i as f64, 1.0, 0.5)).unwrap();
            }
        }
        let singles: Vec<usize> = (0..200).map(|_| one.choose().unwrap()).collect();
        let mut batch = vec![99];
        many.choose_many(200, &mut batch).unwrap();
        assert_eq!(batch[0], 99, "{policy}: choose_many appends");
        assert_eq!(&batch[1..], &singles[..], "{policy}");
        for i in 0..4 {
            assert_eq!(one.stats(i), many.stats(i), "{policy}");
        }
        // And the streams stay in step afterwards.
        assert_eq!(one.choose().unwrap(), many.choose().unwrap(), "{policy}");
    }
}

#[test]
fn the_same_seed_gives_the_same_choices() {
    for policy in Policy::ALL {
        let run = |seed: u64| {
            let mut s = Selector::new(policy, seed);
            for i in 0..8 {
                s.add(&format!("c{i}"), spec(1.0 + i as f64, i, 0.5)).unwrap();
            }
            let mut picks = Vec::new();
            for round in 0..300 {
                let i = s.choose().unwrap();
                picks.push(i);
                s.record(i, outcome((round * 7 + i) % 3 == 0, 0.1, 0.2, 0.8)).unwrap();
            }
            picks
        };
        assert_eq!(run(5), run(5), "{policy}");
        if matches!(policy, Policy::WeightedRandom | Policy::Thompson) {
            assert_ne!(run(5), run(6), "{policy}: the seed matters");
        }
    }
}
