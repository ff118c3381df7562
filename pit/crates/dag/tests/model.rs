//! Property tests of the tracker against a naive model: adjacency sets,
//! reachability by search, and task states recomputed from scratch.

use std::collections::BTreeSet;

use pit_dag::{DagError, DagTracker, FailPolicy, Key, KeyBatch, KeyRef, TaskState};
use proptest::prelude::*;

#[derive(Default, Clone)]
struct Naive {
    succ: Vec<BTreeSet<u32>>,
}

impl Naive {
    fn new(n: usize) -> Self {
        Naive {
            succ: vec![BTreeSet::new(); n],
        }
    }

    fn reaches(&self, from: u32, to: u32) -> bool {
        self.reach(from, true).contains(&to) || from == to
    }

    fn reach(&self, from: u32, forward: bool) -> BTreeSet<u32> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(v) = todo.pop() {
            for w in self.neighbours(v, forward) {
                if seen.insert(w) {
                    todo.push(w);
                }
            }
        }
        seen.remove(&from);
        seen
    }

    fn neighbours(&self, v: u32, forward: bool) -> Vec<u32> {
        if forward {
            self.succ[v as usize].iter().copied().collect()
        } else {
            (0..self.succ.len() as u32)
                .filter(|&u| self.succ[u as usize].contains(&v))
                .collect()
        }
    }

    fn has_cycle(&self) -> bool {
        (0..self.succ.len() as u32).any(|v| {
            self.succ[v as usize]
                .iter()
                .any(|&w| w == v || self.reach(w, true).contains(&v))
        })
    }

    fn longest(&self, cost: &[f64]) -> f64 {
        let n = self.succ.len();
        let mut memo = vec![None; n];
        fn go(v: usize, g: &Naive, cost: &[f64], memo: &mut Vec<Option<f64>>) -> f64 {
            if let Some(x) = memo[v] {
                return x;
            }
            let best = g.succ[v]
                .iter()
                .map(|&w| go(w as usize, g, cost, memo))
                .fold(0.0, f64::max);
            memo[v] = Some(cost[v] + best);
            cost[v] + best
        }
        (0..n).map(|v| go(v, self, cost, &mut memo)).fold(0.0, f64::max)
    }
}

fn tracker(n: usize, costs: &[f64]) -> DagTracker {
    let mut t = DagTracker::new();
    t.add_tasks(&KeyBatch::Ints((0..n as i64).collect()), Some(costs))
        .unwrap();
    t
}

fn assert_structure(t: &DagTracker, g: &Naive) {
    let order = t.topological_order();
    let mut pos = vec![usize::MAX; t.len()];
    for (i, &v) in order.iter().enumerate() {
        assert_eq!(pos[v as usize], usize::MAX, "task twice in the order");
        pos[v as usize] = i;
    }
    for (u, s) in g.succ.iter().enumerate() {
        for &w in s {
            assert!(pos[u] < pos[w as usize], "edge {u}->{w} against the order");
        }
    }
    let edges: BTreeSet<(u32, u32)> = t.edges().into_iter().collect();
    let naive: BTreeSet<(u32, u32)> = g
        .succ
        .iter()
        .enumerate()
        .flat_map(|(u, s)| s.iter().map(move |&w| (u as u32, w)))
        .collect();
    assert_eq!(edges, naive);
    for v in 0..t.len() as u32 {
        let a: BTreeSet<u32> = t.ancestors(v).into_iter().collect();
        let d: BTreeSet<u32> = t.descendants(v).into_iter().collect();
        assert_eq!(a, g.reach(v, false), "ancestors of {v}");
        assert_eq!(d, g.reach(v, true), "descendants of {v}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn edges_one_by_one_match_the_model(
        n in 1usize..30,
        pairs in prop::collection::vec((0u32..30, 0u32..30), 0..80),
        costs in prop::collection::vec(0.0f64..10.0, 30),
    ) {
        let mut t = tracker(n, &costs[..n]);
        let mut g = Naive::new(n);
        for (a, b) in pairs.into_iter().map(|(a, b)| (a % n as u32, b % n as u32)) {
            let refused = g.reaches(b, a);
            match t.add_edge(a, b) {
                Ok(_) => {
                    prop_assert!(!refused, "{a}->{b} accepted but closes a cycle");
                    g.succ[a as usize].insert(b);
                }
                Err(DagError::Cycle { path }) => {
                    prop_assert!(refused, "{a}->{b} refused but acyclic");
                    prop_assert_eq!(path.first(), Some(&Key::Int(a as i64)));
                    prop_assert_eq!(path.last(), Some(&Key::Int(a as i64)));
                    // Each step of the reported cycle is an edge, or the refused one.
                    for w in path.windows(2) {
                        let (Key::Int(u), Key::Int(v)) = (&w[0], &w[1]) else { unreachable!() };
                        prop_assert!(
                            g.succ[*u as usize].contains(&(*v as u32)) || (*u, *v) == (a as i64, b as i64)
                        );
                    }
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
        assert_structure(&t, &g);
        let (total, path) = t.critical_path();
        prop_assert!((total - g.longest(&costs[..n])).abs() < 1e-9);
        let along: f64 = path.iter().map(|&v| costs[v as usize]).sum();
        prop_assert!((along - total).abs() < 1e-9);
        for w in path.windows(2) {
            prop_assert!(g.succ[w[0] as usize].contains(&w[1]));
        }
    }

    #[test]
    fn a_batch_is_all_or_nothing(
        n in 2usize..40,
        first in prop::collection::vec((0u32..40, 0u32..40), 0..60),
        batch in prop::collection::vec((0u32..40, 0u32..40), 1..200),
    ) {
        let mut t = tracker(n, &vec![1.0; n]);
        let mut g = Naive::new(n);
        for (a, b) in first.into_iter().map(|(a, b)| (a % n as u32, b % n as u32)) {
            if !g.reaches(b, a) {
                t.add_edge(a, b).unwrap();
                g.succ[a as usize].insert(b);
            }
        }
        let (src, dst): (Vec<u32>, Vec<u32>) =
            batch.into_iter().map(|(a, b)| (a % n as u32, b % n as u32)).unzip();
        let mut after = g.clone();
        for (&a, &b) in src.iter().zip(&dst) {
            after.succ[a as usize].insert(b);
        }
        let cyclic = after.has_cycle() || src.iter().zip(&dst).any(|(a, b)| a == b);
        match t.add_edges(&src, &dst) {
            Ok(_) => {
                prop_assert!(!cyclic);
                g = after;
            }
            Err(DagError::Cycle { path }) => {
                prop_assert!(cyclic);
                prop_assert!(path.len() >= 2 && path.first() == path.last());
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
        assert_structure(&t, &g);
    }

    #[test]
    fn states_follow_the_rules(
        n in 1usize..25,
        pairs in prop::collection::vec((0u32..25, 0u32..25), 0..50),
        ops in prop::collection::vec((0u8..6, 0u32..25), 1..120),
    ) {
        let mut t = tracker(n, &vec![1.0; n]);
        let mut g = Naive::new(n);
        for (a, b) in pairs.into_iter().map(|(a, b)| (a % n as u32, b % n as u32)) {
            if t.add_edge(a, b).is_ok() {
                g.succ[a as usize].insert(b);
            }
        }
        let mut policy = vec![FailPolicy::Block; n];
        for (op, v) in ops {
            let v = v % n as u32;
            let before: Vec<TaskState> = (0..n as u32).map(|x| t.state(x)).collect();
            let mut out = Vec::new();
            let r = match op {
                0 => { t.take_ready(2, &mut out); Ok(()) }
                1 => t.done(v, &mut out),
                2 | 3 => {
                    let p = if op == 2 { FailPolicy::Skip } else { FailPolicy::Block };
                    let r = t.fail(v, p);
                    if r.is_ok() {
                        policy[v as usize] = p;
                    }
                    r
                }
                4 => t.retry(v),
                _ => t.cancel(v),
            };
            if let Err(e) = &r {
                prop_assert!(matches!(e, DagError::State { .. }), "{e}");
                let after: Vec<TaskState> = (0..n as u32).map(|x| t.state(x)).collect();
                prop_assert_eq!(&before, &after, "a refused transition changed states");
            }
            if op == 1 && r.is_ok() {
                let newly: BTreeSet<u32> = (0..n as u32)
                    .filter(|&x| before[x as usize] != TaskState::Ready && t.state(x) == TaskState::Ready)
                    .collect();
                prop_assert_eq!(newly, out.iter().copied().collect::<BTreeSet<u32>>());
            }
            check_states(&t, &g, &policy);
        }
        // Every reachable state survives the strict checks of a checkpoint,
        // and so does any subgraph of it.
        let bytes = t.to_bytes();
        prop_assert_eq!(DagTracker::from_bytes(&bytes).unwrap().to_bytes(), bytes);
        let half: Vec<u32> = (0..n as u32).filter(|v| v % 2 == 0).collect();
        let sub = t.subgraph(&half).unwrap();
        prop_assert!(DagTracker::from_bytes(&sub.to_bytes()).is_ok());
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_damage(
        n in 1usize..20,
        pairs in prop::collection::vec((0u32..20, 0u32..20), 0..40),
        flip in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        named in any::<bool>(),
    ) {
        let mut t = DagTracker::new();
        for i in 0..n {
            let key = if named { Key::Str(format!("task-{i}").into()) } else { Key::Int(i as i64) };
            t.add_task(key.as_ref(), i as f64, (i % 3 == 0).then(|| vec![i as u8; i].into())).unwrap();
        }
        for (a, b) in pairs {
            let _ = t.add_edge(a % n as u32, b % n as u32);
        }
        let mut out = Vec::new();
        t.take_ready(1, &mut out);
        if let Some(&v) = out.first() {
            t.fail(v, FailPolicy::Skip).unwrap();
        }
        let bytes = t.to_bytes();
        let back = DagTracker::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back.to_bytes(), bytes.clone());
        prop_assert_eq!(back.ready(), t.ready());
        let mut damaged = bytes.clone();
        damaged[flip.index(bytes.len())] ^= 0x5a;
        prop_assert!(matches!(DagTracker::from_bytes(&damaged), Err(DagError::Checkpoint(_))));
        prop_assert!(matches!(
            DagTracker::from_bytes(&bytes[..cut.index(bytes.len())]),
            Err(DagError::Checkpoint(_))
        ));
    }
}

fn check_states(t: &DagTracker, g: &Naive, policy: &[FailPolicy]) {
    let n = t.len() as u32;
    let skips = |p: u32| match t.state(p) {
        TaskState::Skipped | TaskState::Cancelled => true,
        TaskState::Failed => policy[p as usize] == FailPolicy::Skip,
        _ => false,
    };
    let mut counts = [0usize; 7];
    for v in 0..n {
        let preds = g.neighbours(v, false);
        let all_done = preds.iter().all(|&p| t.state(p) == TaskState::Done);
        let skip_cause = preds.iter().any(|&p| skips(p));
        let s = t.state(v);
        counts[s as usize] += 1;
        match s {
            TaskState::Ready | TaskState::Running | TaskState::Done | TaskState::Failed => {
                assert!(all_done, "task {v} is {s} with an unfinished predecessor")
            }
            TaskState::Pending => assert!(!all_done && !skip_cause, "task {v} pending wrongly"),
            TaskState::Skipped => assert!(skip_cause, "task {v} skipped without cause"),
            TaskState::Cancelled => {}
        }
    }
    assert_eq!(counts, t.counts());
    let ready: BTreeSet<u32> = t.ready().into_iter().collect();
    let naive: BTreeSet<u32> = (0..n).filter(|&v| t.state(v) == TaskState::Ready).collect();
    assert_eq!(ready, naive);
    assert_eq!(t.ready().len(), ready.len(), "ready() repeats a task");
}

#[test]
fn messages_name_the_task_and_both_states() {
    let mut t = DagTracker::new();
    t.add_task(KeyRef::Str("fetch"), 1.0, None).unwrap();
    let err = t.done(0, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "task 'fetch': done() cannot move it from ready to done"
    );
}

#[test]
fn cycle_message_names_the_path() {
    let mut t = DagTracker::new();
    for k in ["a", "b", "c"] {
        t.add_task(KeyRef::Str(k), 0.0, None).unwrap();
    }
    t.add_edge(0, 1).unwrap();
    t.add_edge(1, 2).unwrap();
    let err = t.add_edge(2, 0).unwrap_err();
    assert_eq!(err.to_string(), "edge would create a cycle: 'c' -> 'a' -> 'b' -> 'c'");
}

#[test]
fn subgraph_keeps_states_and_frees_cut_dependencies() {
    let mut t = tracker(3, &[1.0, 2.0, 3.0]);
    t.add_edges(&[0, 1], &[1, 2]).unwrap();
    let s = t.subgraph(&[2, 1]).unwrap();
    assert_eq!(s.key(0), KeyRef::Int(2));
    assert_eq!(s.state(1), TaskState::Ready);
    assert_eq!(s.state(0), TaskState::Pending);
    assert_eq!(s.edges(), vec![(1, 0)]);
}
