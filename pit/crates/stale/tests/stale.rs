use std::sync::Arc;
use std::time::Duration;

use pit_artifacts::{ArtifactError, Encoding, Entry, Hash, Info, Meta, Options, Snapshot, Store, Stored};
use pit_stale::{Action, Archive, DirArchive, Periodic, Policy, Rule, StaleError, StaleManager, Verdict, plan};

fn entry(n: u8, created: f64, accessed: f64, reads: u64, quality: Option<f64>, size: u64) -> Entry {
    Entry {
        hash: Hash([n; 32]),
        size,
        stored_size: size,
        created,
        accessed,
        access_count: reads,
        quality,
        kind: None,
    }
}

fn decision(p: &pit_stale::Plan, n: u8) -> (Verdict, Rule) {
    let d = p.decisions.iter().find(|d| d.hash == Hash([n; 32])).unwrap();
    (d.verdict, d.rule)
}

#[test]
fn each_rule_decides_with_its_name() {
    let now = 1_000_000.0;
    let day = 86_400.0;
    let mut snap = Snapshot {
        entries: vec![
            entry(0, now - 9.0 * day, now - 9.0 * day, 0, None, 10), // pinned
            entry(1, now - 9.0 * day, now - 9.0 * day, 0, None, 10), // input of 2
            entry(2, now - 9.0 * day, now - 9.0 * day, 0, None, 10), // a ref
            entry(3, now - 9.0 * day, now - 9.0 * day, 0, None, 10), // old
            entry(4, now - 2.0 * day, now, 0, None, 10),             // never read
            entry(5, now, now, 5, Some(0.1), 10),                    // poor
            entry(6, now, now, 5, Some(0.9), 10),                    // fine
            entry(7, now - 9.0 * day, now - 9.0 * day, 0, None, 10), // training data
            entry(8, now - 9.0 * day, now - 9.0 * day, 0, None, 10), // a dag root
            entry(9, now - 9.0 * day, now - 9.0 * day, 0, None, 10), // kept tag
        ],
        edges: vec![(2, 1)],
        refs: vec![(0, 2)],
        pins: vec![0],
        seq: 7,
        taken: now,
        ..Snapshot::default()
    };
    snap.tagged.insert("training".into(), vec![7]);
    snap.tagged.insert("paper".into(), vec![9]);
    let policy = Policy {
        grace: 0.0,
        max_age: Some(7.0 * day),
        min_access_count: Some(1),
        min_quality: Some(0.5),
        keep_tags: vec!["paper".into()],
        action: Action::Delete,
        ..Policy::default()
    };
    let p = plan(&snap, &policy, &[Hash([8; 32])]);
    assert_eq!(decision(&p, 0), (Verdict::Keep, Rule::Pinned));
    assert_eq!(decision(&p, 1), (Verdict::Keep, Rule::Lineage));
    assert_eq!(decision(&p, 2), (Verdict::Keep, Rule::Ref));
    assert_eq!(decision(&p, 3), (Verdict::Delete, Rule::MaxAge));
    assert_eq!(decision(&p, 4), (Verdict::Delete, Rule::MinAccessCount));
    assert_eq!(decision(&p, 5), (Verdict::Delete, Rule::MinQuality));
    assert_eq!(decision(&p, 6), (Verdict::Keep, Rule::WithinLimits));
    assert_eq!(decision(&p, 7), (Verdict::Keep, Rule::Training));
    assert_eq!(decision(&p, 8), (Verdict::Keep, Rule::Root));
    assert_eq!(decision(&p, 9), (Verdict::Keep, Rule::Tagged));
    assert_eq!((p.freed_bytes, p.kept_bytes, p.seq), (30, 70, 7));
    // Within the default grace of an hour, the young poor one stays.
    let graceful = Policy {
        grace: Policy::default().grace,
        ..policy
    };
    assert_eq!(decision(&plan(&snap, &graceful, &[]), 5), (Verdict::Keep, Rule::Grace));
}

#[test]
fn over_the_size_limit_the_least_valuable_go_first() {
    let now = 1_000_000.0;
    let snap = Snapshot {
        entries: vec![
            entry(0, now, now, 50, Some(0.9), 100),             // hot, good
            entry(1, now, now - 30.0 * 86_400.0, 0, None, 100), // cold
            entry(2, now, now - 86_400.0, 3, Some(0.5), 100),   // lukewarm
            entry(3, now, now - 90.0 * 86_400.0, 0, None, 100), // a ref, cold: protected
        ],
        refs: vec![(0, 3)],
        taken: now,
        ..Snapshot::default()
    };
    let policy = Policy {
        grace: 0.0,
        max_total_bytes: Some(250),
        action: Action::Delete,
        ..Policy::default()
    };
    let p = plan(&snap, &policy, &[]);
    assert_eq!(decision(&p, 1), (Verdict::Delete, Rule::MaxTotalBytes));
    assert_eq!(decision(&p, 2), (Verdict::Delete, Rule::MaxTotalBytes));
    assert_eq!(decision(&p, 0).0, Verdict::Keep);
    assert_eq!(decision(&p, 3), (Verdict::Keep, Rule::Ref));
    assert_eq!((p.kept_bytes, p.over_limit_bytes), (200, 0));
    let values: Vec<f64> = p.decisions.iter().map(|d| d.value).collect();
    assert!(values[0] > values[2] && values[2] > values[1], "{values:?}");
    // Protected artifacts alone over the limit: reported, never removed.
    let tight = Policy {
        max_total_bytes: Some(50),
        ..policy
    };
    let p = plan(&snap, &tight, &[]);
    assert_eq!(p.over_limit_bytes, 50);
    assert_eq!(decision(&p, 3).0, Verdict::Keep);
}

#[test]
fn only_the_last_versions_of_a_name_are_kept_by_it() {
    let now = 1_000_000.0;
    let snap = Snapshot {
        entries: (0..4).map(|i| entry(i, now, now - 1e6, 0, None, 1)).collect(),
        // model v1..v3 are artifacts 0, 1, 2; other v1, v2 are 0, 3.
        refs: vec![(2, 0), (1, 1), (0, 2), (1, 0), (0, 3)],
        taken: now,
        ..Snapshot::default()
    };
    let policy = Policy {
        grace: 0.0,
        keep_last_versions: Some(1),
        max_age: Some(10.0),
        action: Action::Delete,
        ..Policy::default()
    };
    let p = plan(&snap, &policy, &[]);
    let verdicts: Vec<Verdict> = (0..4).map(|i| decision(&p, i).0).collect();
    assert_eq!(
        verdicts,
        vec![Verdict::Delete, Verdict::Delete, Verdict::Keep, Verdict::Keep]
    );
}

#[test]
fn bad_policies_are_refused() {
    let (_dir, store) = store();
    for (policy, needle) in [
        (
            Policy {
                max_age: Some(-1.0),
                ..Policy::default()
            },
            "max_age",
        ),
        (
            Policy {
                keep_last_versions: Some(0),
                ..Policy::default()
            },
            "keep_last_versions",
        ),
        (Policy::default(), "no archive was given"),
    ] {
        let e = StaleManager::new(store.clone(), policy, None).err().unwrap();
        assert!(matches!(e, StaleError::Policy(_)));
        assert!(e.to_string().contains(needle), "{e}");
    }
}

fn store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("store"), Options::default()).unwrap();
    (dir, Arc::new(s))
}

fn big(seed: u8) -> Vec<u8> {
    // Over the inline limit: a file in objects/.
    (0..40_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect()
}

#[test]
fn a_run_archives_then_removes_and_restore_brings_back() {
    let (dir, store) = store();
    let raw = store.put_blob(b"raw input", &Meta::default()).unwrap();
    let meta = Meta {
        kind: Some("table".into()),
        producer: Some("cleaner".into()),
        inputs: vec![raw],
        quality: Some(0.7),
        tags: vec!["x".into()],
        ..Meta::default()
    };
    let file = store.put_blob(&big(1), &meta).unwrap();
    let kept = store.put("kept", b"named", &Meta::default()).unwrap().0;
    let archive = Arc::new(DirArchive::new(dir.path().join("archive")).unwrap());
    let policy = Policy {
        grace: 0.0,
        max_age: Some(0.0),
        ..Policy::default()
    };
    let manager = StaleManager::new(store.clone(), policy, Some(archive)).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let report = manager.run().unwrap();
    assert_eq!((report.archived, report.deleted, report.kept), (2, 0, 1));
    assert!(store.get_by_hash(&kept).is_ok());
    for h in [raw, file] {
        let e = store.get_by_hash(&h).unwrap_err();
        assert!(matches!(e, ArtifactError::Removed { .. }), "{e}");
        assert!(e.to_string().contains("archived"), "{e}");
    }
    assert!(store.object_path(&file).is_none(), "the file is gone");
    assert!(dir.path().join("archive/meta").exists());
    manager.restore(&file).unwrap();
    assert_eq!(store.get_by_hash(&file).unwrap(), big(1));
    let info = store.info(&file).unwrap();
    assert_eq!(
        (
            info.kind.as_deref(),
            info.quality,
            info.inputs.clone(),
            info.tags.clone()
        ),
        (Some("table"), Some(0.7), vec![raw], vec!["x".to_string()])
    );
    assert!(store.verify().unwrap().is_ok());
    let unknown = manager.restore(&Hash([7; 32])).unwrap_err();
    assert!(matches!(unknown, StaleError::NotArchived(_)), "{unknown}");
}

#[test]
fn what_became_reachable_after_the_plan_is_spared() {
    let (_dir, store) = store();
    let old = store.put_blob(b"old", &Meta::default()).unwrap();
    let other = store.put_blob(b"other", &Meta::default()).unwrap();
    let snap = store.snapshot(&[]).unwrap();
    // After the snapshot, something new takes `old` as an input.
    store
        .put(
            "child",
            b"child",
            &Meta {
                inputs: vec![old],
                ..Meta::default()
            },
        )
        .unwrap();
    let removals: Vec<_> = [old, other]
        .iter()
        .map(|&hash| pit_artifacts::Removal {
            hash,
            action: "delete".into(),
            rule: "max_age".into(),
        })
        .collect();
    let removed = store.remove(&removals, snap.seq).unwrap();
    assert_eq!(removed, vec![other]);
    assert_eq!(store.get_by_hash(&old).unwrap(), b"old");
}

/// An archive that takes its time, to hold a run open.
struct Slow(DirArchive);

impl Archive for Slow {
    fn put(&self, hash: &Hash, stored: &Stored, encoding: Encoding, info: &Info) -> pit_stale::Result<()> {
        std::thread::sleep(Duration::from_millis(300));
        self.0.put(hash, stored, encoding, info)
    }
    fn get(&self, hash: &Hash) -> pit_stale::Result<(Vec<u8>, Encoding, Info)> {
        self.0.get(hash)
    }
    fn describe(&self) -> String {
        "slow".into()
    }
}

#[test]
fn runs_never_overlap_and_a_periodic_thread_stops() {
    let (dir, store) = store();
    store.put_blob(b"goes", &Meta::default()).unwrap();
    let policy = Policy {
        grace: 0.0,
        max_age: Some(0.0),
        ..Policy::default()
    };
    let slow = Arc::new(Slow(DirArchive::new(dir.path().join("a")).unwrap()));
    let a = Arc::new(StaleManager::new(store.clone(), policy.clone(), Some(slow)).unwrap());
    // A second manager on the same store, as another process would have.
    let other = Arc::new(Store::open(store.root(), Options::default()).unwrap());
    let b = StaleManager::new(
        other,
        policy.clone(),
        Some(Arc::new(DirArchive::new(dir.path().join("b")).unwrap())),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let running = {
        let a = a.clone();
        std::thread::spawn(move || a.run().unwrap())
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(b.try_run().unwrap().is_none(), "a run is in progress");
    assert!(a.try_run().unwrap().is_none(), "in this process too");
    assert_eq!(running.join().unwrap().archived, 1);
    assert!(b.try_run().unwrap().is_some());

    let mut periodic = Periodic::start(a.clone(), Duration::from_millis(20));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while periodic.runs() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(periodic.runs() >= 3);
    periodic.stop();
    let after = periodic.runs();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(periodic.runs(), after, "stopped");
    assert!(!periodic.is_running());
    assert!(periodic.last().unwrap().is_ok());
}

#[test]
fn the_young_keep_what_they_were_made_from() {
    let now = 1_000_000.0;
    let snap = Snapshot {
        entries: vec![
            entry(0, now - 1e6, now - 1e6, 0, None, 10),   // old input
            entry(1, now - 60.0, now - 60.0, 0, None, 10), // made a minute ago from it
        ],
        edges: vec![(1, 0)],
        taken: now,
        ..Snapshot::default()
    };
    let policy = Policy {
        max_age: Some(10.0),
        action: Action::Delete,
        ..Policy::default()
    };
    let p = plan(&snap, &policy, &[]);
    assert_eq!(decision(&p, 1), (Verdict::Keep, Rule::Grace));
    assert_eq!(decision(&p, 0), (Verdict::Keep, Rule::Lineage));
}
