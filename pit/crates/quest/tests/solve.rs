use pit_quest::{Problem, h_add, h_max, solve};

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
