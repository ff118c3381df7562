//! Times the parts of a collection over a store of N small artifacts:
//! `cargo run --release -p pit-stale --example gc_profile -- 1000000 [copy-of-store-to-keep]`.
//! With a second argument, the store built is copied there first, and a
//! later run with the same argument starts from a copy of it.

use std::sync::Arc;
use std::time::Instant;

use pit_artifacts::{Item, Meta, Options, Store};
use pit_stale::{Action, Policy, StaleManager, plan};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir_in(".").unwrap();
    let keep = std::env::args().nth(2).map(std::path::PathBuf::from);
    let root = dir.path().join("s");
    if let Some(kept) = &keep
        && kept.exists()
    {
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(kept)
            .arg(&root)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let fresh = !root.exists();
    let store = Arc::new(
        Store::open(
            &root,
            Options {
                durable: false,
                ..Options::default()
            },
        )
        .unwrap(),
    );
    let t = Instant::now();
    let mut made = if fresh { 0 } else { n };
    while made < n * 9 / 10 {
        let parent = store
            .put_blob(format!("parent {made}").as_bytes(), &Meta::default())
            .unwrap();
        let meta = Meta {
            inputs: vec![parent],
            ..Meta::default()
        };
        let data: Vec<(String, Vec<u8>)> = (0..10_000)
            .map(|i| (format!("r{}", made + i), format!("child {}", made + i).into_bytes()))
            .collect();
        let items: Vec<Item> = data
            .iter()
            .map(|(name, d)| Item {
                data: d,
                meta: &meta,
                name: Some(name),
            })
            .collect();
        store.put_many(&items).unwrap();
        made += 10_001;
    }
    let garbage: Vec<Vec<u8>> = (made.min(n)..n).map(|i| format!("garbage {i}").into_bytes()).collect();
    let meta = Meta::default();
    let items: Vec<Item> = garbage
        .iter()
        .map(|d| Item {
            data: d,
            meta: &meta,
            name: None,
        })
        .collect();
    store.put_many(&items).unwrap();
    println!("build {:.2}s", t.elapsed().as_secs_f64());
    if let Some(kept) = &keep
        && fresh
    {
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(&root)
            .arg(kept)
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::thread::sleep(std::time::Duration::from_millis(10));
    let t = Instant::now();
    let snap = store.snapshot(&["training"]).unwrap();
    println!(
        "snapshot {:.3}s ({} entries, {} edges, {} refs)",
        t.elapsed().as_secs_f64(),
        snap.entries.len(),
        snap.edges.len(),
        snap.refs.len()
    );
    let policy = Policy {
        grace: 0.0,
        max_age: Some(0.0),
        action: Action::Delete,
        ..Policy::default()
    };
    let t = Instant::now();
    let p = plan(&snap, &policy, &[]);
    println!(
        "plan {:.3}s ({} removals)",
        t.elapsed().as_secs_f64(),
        p.removals().count()
    );
    let manager = StaleManager::new(store.clone(), policy, None).unwrap();
    let t = Instant::now();
    let r = manager.run().unwrap();
    println!("run {:.3}s (deleted {})", t.elapsed().as_secs_f64(), r.deleted);
}
