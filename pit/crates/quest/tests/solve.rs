use pit_quest::{Problem, h_add, h_max, h_objective, solve};

/// map -> key (find), key -> unlocked (use, consumes key), unlocked -> open.
fn door() -> Problem {
    Problem {
        needs: vec![0b0001, 0b0010, 0b0100, 0],
        consumes: vec![0, 0b0010, 0, 0],
        produces: vec![0b0010, 0b0100, 0b1000, 0b10000],
        cost: vec![1.0, 1.0, 1.0, 0.5],
        warmup: vec![0.0; 4],
        essential: 0b1000,
        extras: vec![],
        start: 0b0001,
        start_warm: 0,
        budget: 10.0,
    }
}

#[test]
fn finds_the_optimal_plan() {
    let s = solve(&door()).unwrap();
    assert_eq!(s.calls, vec![0, 1, 2]);
    assert_eq!(s.cost, 3.0);
    assert_eq!(h_max(&door(), 0b0001), 3.0);
    assert_eq!(h_add(&door(), 0b0001), 3.0);
    assert!(solve(&Problem { budget: 2.5, ..door() }).is_none());
}

#[test]
fn warm_ups_and_bonuses_shape_the_plan() {
    // Two ways to the goal: a (cost 1, warm-up 5) or b (cost 3).
    let p = Problem {
        needs: vec![0b01, 0b01, 0b01],
        consumes: vec![0, 0, 0],
        produces: vec![0b10, 0b10, 0b100],
        cost: vec![1.0, 3.0, 1.0],
        warmup: vec![5.0, 0.0, 0.0],
        essential: 0b10,
        extras: vec![(0b100, 2.0)],
        start: 0b01,
        start_warm: 0,
        budget: 100.0,
    };
    let s = solve(&p).unwrap();
    assert_eq!(s.calls, vec![2, 1]); // the bonus first (worth 2 at cost 1), then the cheap way
    assert_eq!(s.cost, 4.0);
    let warm = solve(&Problem {
        start_warm: 0b001,
        ..p.clone()
    })
    .unwrap();
    assert_eq!(warm.calls, vec![2, 0]);
    assert!(p.check().is_ok());
    assert!(
        Problem {
            cost: vec![-1.0, 3.0, 1.0],
            ..p
        }
        .check()
        .is_err()
    );
}

#[test]
fn the_bound_counts_an_extra_made_or_forgone() {
    // start -> a (cost 2) -> goal (cost 1); start -> x (cost 4), an extra worth 10,
    // and y, an extra worth 1 that costs 6.
    let p = Problem {
        needs: vec![0b1, 0b10, 0b1, 0b1],
        consumes: vec![0; 4],
        produces: vec![0b10, 0b100, 0b1000, 0b10000],
        cost: vec![2.0, 1.0, 4.0, 6.0],
        warmup: vec![0.0; 4],
        essential: 0b100,
        extras: vec![(0b1000, 10.0), (0b10000, 1.0)],
        start: 0b1,
        start_warm: 0,
        budget: 100.0,
    };
    assert_eq!(h_max(&p, 0b1), 3.0);
    // x: made for at least 4 (beside the win's 3), or its 10 forgone.
    assert_eq!(h_objective(&p, 0b1), 4.0);
    assert_eq!(h_objective(&p, 0b1001), 3.0); // x held: y's 1 forgone is less than the win
    assert_eq!(h_objective(&p, 0b1101), 1.0); // won without y: its reward is lost
    let s = solve(&p).unwrap();
    assert_eq!((s.cost, s.bonus), (7.0, 10.0)); // x, then the win; y not worth its cost
    assert!(h_objective(&p, 0b1) <= s.cost + 11.0 - s.bonus);
}
