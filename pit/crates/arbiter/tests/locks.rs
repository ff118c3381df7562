//! The lock table: modes, all-or-nothing grants, FIFO fairness, errors.

use pit_arbiter::{ArbiterError, LockId, LockTable, Mode};

use Mode::{Exclusive as X, Shared as S};

fn ok(t: &LockTable) {
    t.check_invariants().unwrap();
}

#[test]
fn mode_names_round_trip() {
    for m in [S, X] {
        assert_eq!(m.name().parse::<Mode>().unwrap(), m);
    }
    assert!(matches!("write".parse::<Mode>(), Err(ArbiterError::InvalidArgument(m)) if m.contains("'write'")));
}

#[test]
fn readers_share_and_a_writer_waits_for_them() {
    let mut t = LockTable::new();
    let (r1, g1) = t.request(1, &[("model.bin", S)]).unwrap();
    let (r2, g2) = t.request(2, &[("model.bin", S)]).unwrap();
    assert!(g1 && g2);
    let (w, gw) = t.request(3, &[("model.bin", X)]).unwrap();
    assert!(!gw);
    assert_eq!(t.holders("model.bin"), (vec![1, 2], None));
    assert_eq!(t.waiting(), 1);
    ok(&t);
    assert!(t.release(r1).unwrap().is_empty());
    assert_eq!(t.release(r2).unwrap(), [w]);
    assert!(t.is_granted(w));
    assert_eq!(t.holders("model.bin"), (vec![], Some(3)));
    assert_eq!(t.owner(w), Some(3));
    ok(&t);
}

#[test]
fn a_writer_is_not_starved_by_readers_arriving_after_it() {
    let mut t = LockTable::new();
    let (r1, _) = t.request(1, &[("f", S)]).unwrap();
    let (w, gw) = t.request(2, &[("f", X)]).unwrap();
    // Compatible with the holder, but the writer asked first.
    let (r2, g2) = t.request(3, &[("f", S)]).unwrap();
    assert!(!gw && !g2);
    ok(&t);
    assert_eq!(t.release(r1).unwrap(), [w]);
    assert_eq!(t.release(w).unwrap(), [r2]);
    ok(&t);
}

#[test]
fn a_set_is_granted_whole_or_not_at_all() {
    let mut t = LockTable::new();
    let (hb, _) = t.request(1, &[("b", X)]).unwrap();
    let (ab, g) = t.request(2, &[("a", X), ("b", X)]).unwrap();
    assert!(!g);
    // Waiting holds nothing: 'a' is free.
    assert_eq!(t.holders("a"), (vec![], None));
    // Unrelated work passes a waiting request.
    let (c, gc) = t.request(3, &[("c", X)]).unwrap();
    assert!(gc);
    // But not work that conflicts with it: FIFO on 'a'.
    let (a2, ga2) = t.request(4, &[("a", S)]).unwrap();
    assert!(!ga2);
    ok(&t);
    assert_eq!(t.release(hb).unwrap(), [ab]);
    assert_eq!(t.holders("a"), (vec![], Some(2)));
    assert_eq!(t.holders("b"), (vec![], Some(2)));
    assert_eq!(t.release(ab).unwrap(), [a2]);
    t.release(c).unwrap();
    t.release(a2).unwrap();
    assert_eq!((t.waiting(), t.granted()), (0, 0));
    ok(&t);
}

#[test]
fn opposite_orders_cannot_deadlock() {
    // Two owners that need a and b "in opposite orders" ask for the set.
    let mut t = LockTable::new();
    let (p, gp) = t.request(1, &[("a", X), ("b", X)]).unwrap();
    let (q, gq) = t.request(2, &[("b", X), ("a", X)]).unwrap();
    assert!(gp && !gq);
    assert_eq!(t.release(p).unwrap(), [q]);
}

#[test]
fn a_release_grants_every_unblocked_waiter_in_order() {
    let mut t = LockTable::new();
    let (x, _) = t.request(9, &[("a", X)]).unwrap();
    let ids: Vec<LockId> = (1..=3).map(|o| t.request(o, &[("a", S)]).unwrap().0).collect();
    let (w, _) = t.request(4, &[("a", X)]).unwrap();
    let (r, _) = t.request(5, &[("a", S)]).unwrap();
    assert_eq!(t.release(x).unwrap(), ids);
    assert_eq!(t.holders("a"), (vec![1, 2, 3], None));
    assert!(!t.is_granted(w) && !t.is_granted(r));
    ok(&t);
}

#[test]
fn one_owner_twice_is_counted_once_in_holders() {
    let mut t = LockTable::new();
    t.request(7, &[("a", S)]).unwrap();
    t.request(7, &[("a", S)]).unwrap();
    t.request(3, &[("a", S)]).unwrap();
    assert_eq!(t.holders("a"), (vec![3, 7], None));
}

#[test]
fn cancel_drops_a_waiter_and_reports_what_it_unblocked() {
    let mut t = LockTable::new();
    t.request(1, &[("a", S)]).unwrap();
    let (w, _) = t.request(2, &[("a", X), ("b", X)]).unwrap();
    let (r, gr) = t.request(3, &[("b", S)]).unwrap();
    assert!(!gr, "behind the waiting writer on b");
    assert_eq!(t.cancel(w).unwrap(), [r]);
    assert!(!t.is_granted(w) && t.owner(w).is_none());
    ok(&t);
}

#[test]
fn bad_inputs_give_the_right_errors() {
    let mut t = LockTable::new();
    assert!(matches!(t.request(1, &[]), Err(ArbiterError::InvalidArgument(_))));
    assert!(matches!(
        t.request(1, &[("a", S), ("b", X), ("a", X)]),
        Err(ArbiterError::InvalidArgument(m)) if m.contains("'a' appears twice")
    ));
    assert!(matches!(
        t.request(1, &[("", S)]),
        Err(ArbiterError::InvalidArgument(_))
    ));
    assert_eq!(t.waiting() + t.granted(), 0, "a refused request leaves no trace");
    assert_eq!(t.release(LockId(99)), Err(ArbiterError::UnknownLock(99)));
    assert_eq!(t.cancel(LockId(99)), Err(ArbiterError::UnknownLock(99)));
    let (h, _) = t.request(1, &[("a", X)]).unwrap();
    let (w, _) = t.request(2, &[("a", X)]).unwrap();
    assert_eq!(
        t.release(w),
        Err(ArbiterError::UnknownLock(w.0)),
        "a waiting request is not held"
    );
    assert!(matches!(t.cancel(h), Err(ArbiterError::InvalidArgument(_))));
    t.release(h).unwrap();
    assert_eq!(t.release(h), Err(ArbiterError::UnknownLock(h.0)), "a second release");
    ok(&t);
}
