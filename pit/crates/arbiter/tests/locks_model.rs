//! Property tests of the lock table against a naive model that recomputes
//! every grant from scratch: the same grants, the readers–writer invariant
//! after every step, and liveness once everybody lets go.

use pit_arbiter::{ArbiterError, LockId, LockTable, Mode};
use proptest::prelude::*;

const RESOURCES: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Clone, Debug)]
enum Op {
    /// Items may repeat a resource, which must be refused.
    Request(u64, Vec<(usize, bool)>),
    /// An index into the ids issued so far (or past them: an unknown id).
    Release(usize),
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..6, prop::collection::vec((0usize..4, any::<bool>()), 1..=3)).prop_map(|(o, i)| Op::Request(o, i)),
        3 => (0usize..40).prop_map(Op::Release),
        1 => (0usize..40).prop_map(Op::Cancel),
    ]
}

#[derive(Clone, Debug)]
struct Req {
    id: u64,
    owner: u64,
    items: Vec<(usize, Mode)>,
    granted: bool,
}

/// The rule, stated plainly: walk the live requests oldest first; a waiting
/// one is granted if nothing granted and nothing older still waiting
/// conflicts with it on any resource.
#[derive(Default)]
struct Model {
    live: Vec<Req>,
}

fn conflict(a: &[(usize, Mode)], b: &[(usize, Mode)]) -> bool {
    a.iter().any(|(r, m)| {
        b.iter()
            .any(|(s, n)| r == s && (*m == Mode::Exclusive || *n == Mode::Exclusive))
    })
}

impl Model {
    fn settle(&mut self) -> Vec<u64> {
        let mut out = Vec::new();
        for i in 0..self.live.len() {
            if self.live[i].granted {
                continue;
            }
            let blocked = self.live[..i]
                .iter()
                .chain(self.live[i + 1..].iter().filter(|r| r.granted))
                .any(|o| conflict(&o.items, &self.live[i].items));
            if !blocked {
                self.live[i].granted = true;
                out.push(self.live[i].id);
            }
        }
        out
    }

    fn find(&self, id: u64) -> Option<usize> {
        self.live.iter().position(|r| r.id == id)
    }

    fn holders(&self, res: usize) -> (Vec<u64>, Option<u64>) {
        let mut shared = Vec::new();
        let mut excl = None;
        for r in self.live.iter().filter(|r| r.granted) {
            for &(s, m) in &r.items {
                if s == res {
                    match m {
                        Mode::Shared => shared.push(r.owner),
                        Mode::Exclusive => excl = Some(r.owner),
                    }
                }
            }
        }
        shared.sort_unstable();
        shared.dedup();
        (shared, excl)
    }
}

fn items(v: &[(usize, bool)]) -> Vec<(usize, Mode)> {
    v.iter()
        .map(|&(r, x)| (r, if x { Mode::Exclusive } else { Mode::Shared }))
        .collect()
}

fn check(t: &LockTable, m: &Model) -> Result<(), TestCaseError> {
    t.check_invariants().map_err(TestCaseError::fail)?;
    for (res, name) in RESOURCES.iter().enumerate() {
        // Counted from the grants the table reported, not from its tables.
        let granted: Vec<&Req> = m.live.iter().filter(|r| r.granted).collect();
        let writers = granted
            .iter()
            .filter(|r| r.items.contains(&(res, Mode::Exclusive)))
            .count();
        let readers = granted
            .iter()
            .filter(|r| r.items.contains(&(res, Mode::Shared)))
            .count();
        prop_assert!(writers <= 1, "two writers on {}", name);
        prop_assert!(writers == 0 || readers == 0, "a writer beside readers on {}", name);
        prop_assert_eq!(t.holders(name), m.holders(res));
    }
    for r in &m.live {
        prop_assert_eq!(t.is_granted(LockId(r.id)), r.granted);
    }
    prop_assert_eq!(t.waiting(), m.live.iter().filter(|r| !r.granted).count());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lock_table_matches_the_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut t = LockTable::new();
        let mut m = Model::default();
        let mut issued: Vec<u64> = Vec::new();
        for op in &ops {
            match op {
                Op::Request(owner, raw) => {
                    let its = items(raw);
                    let named: Vec<(&str, Mode)> = its.iter().map(|&(r, md)| (RESOURCES[r], md)).collect();
                    let dup = (0..its.len()).any(|i| its[..i].iter().any(|o| o.0 == its[i].0));
                    match t.request(*owner, &named) {
                        Err(ArbiterError::InvalidArgument(_)) => prop_assert!(dup),
                        Err(e) => prop_assert!(false, "unexpected {}", e),
                        Ok((id, granted)) => {
                            prop_assert!(!dup, "a repeated resource was accepted");
                            issued.push(id.0);
                            m.live.push(Req { id: id.0, owner: *owner, items: its, granted: false });
                            let got = m.settle();
                            prop_assert_eq!(granted, got == [id.0]);
                            prop_assert!(got.is_empty() || got == [id.0], "a new request granted others");
                        }
                    }
                }
                Op::Release(k) | Op::Cancel(k) => {
                    let id = issued.get(*k).copied().unwrap_or(1_000_000 + *k as u64);
                    let release = matches!(op, Op::Release(_));
                    let res = if release { t.release(LockId(id)) } else { t.cancel(LockId(id)) };
                    match (m.find(id), release) {
                        (Some(i), true) if m.live[i].granted => {
                            m.live.remove(i);
                            let want: Vec<LockId> = m.settle().into_iter().map(LockId).collect();
                            prop_assert_eq!(res.unwrap(), want);
                        }
                        (Some(i), false) if !m.live[i].granted => {
                            m.live.remove(i);
                            let want: Vec<LockId> = m.settle().into_iter().map(LockId).collect();
                            prop_assert_eq!(res.unwrap(), want);
                        }
                        (Some(_), false) => prop_assert!(matches!(res, Err(ArbiterError::InvalidArgument(_)))),
                        _ => prop_assert_eq!(res, Err(ArbiterError::UnknownLock(id))),
                    }
                }
            }
            check(&t, &m)?;
        }
        // Liveness: while anything waits, releasing what is granted grants
        // more; every request is granted within as many rounds as there are
        // requests, and the table ends empty.
        let mut rounds = 0;
        while t.waiting() + t.granted() > 0 {
            rounds += 1;
            prop_assert!(rounds <= issued.len() + 1, "requests left waiting forever");
            let held: Vec<u64> = m.live.iter().filter(|r| r.granted).map(|r| r.id).collect();
            prop_assert!(!held.is_empty() || t.waiting() == 0, "nothing held yet something waits");
            for id in held {
                let got = t.release(LockId(id)).unwrap();
                let i = m.find(id).unwrap();
                m.live.remove(i);
                let want: Vec<LockId> = m.settle().into_iter().map(LockId).collect();
                prop_assert_eq!(got, want);
                check(&t, &m)?;
            }
        }
        prop_assert_eq!(m.live.len(), 0);
    }
}
