use std::fs;

use pit_artifacts::{ArtifactError, Encoding, Hash, Meta, Options, Store};
use proptest::prelude::*;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("store"), Options::default()).unwrap();
    (dir, s)
}

fn text(n: usize) -> Vec<u8> {
    "the quick brown fox jumps over the lazy dog. ".repeat(n).into_bytes()
}

#[test]
fn puts_version_names_and_store_content_once() {
    let (_dir, s) = store();
    let meta = Meta {
        kind: Some("report".into()),
        ..Meta::default()
    };
    let (h1, v1) = s.put("report", &text(1000), &meta).unwrap();
    let (h2, v2) = s.put("report", b"second", &meta).unwrap();
    let (h3, v3) = s.put("report", &text(1000), &meta).unwrap();
    assert_eq!((v1, v2, v3), (1, 2, 3));
    assert_eq!(h1, h3, "same content, same hash");
    assert_eq!(s.get("report", None).unwrap(), text(1000));
    assert_eq!(s.get("report", Some(2)).unwrap(), b"second");
    assert_eq!(s.get_by_hash(&h2).unwrap(), b"second");
    let history: Vec<(u32, Hash)> = s
        .history("report")
        .unwrap()
        .into_iter()
        .map(|(v, h, _)| (v, h))
        .collect();
    assert_eq!(history, vec![(1, h1), (2, h2), (3, h1)]);
    let files = walk(&s.root().join("objects"));
    assert_eq!(files, 1, "one large content, one file; the small one is inline");
    assert!(s.info(&h2).unwrap().inline && !s.info(&h1).unwrap().inline);
    assert!(matches!(
        s.get("report", Some(9)),
        Err(ArtifactError::UnknownName { version: Some(9), .. })
    ));
    assert!(matches!(s.get("nope", None), Err(ArtifactError::UnknownName { .. })));
}

/// Bytes that do not compress.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn walk(dir: &std::path::Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { walk(&p) } else { 1 }
        })
        .sum()
}

#[test]
fn compressible_blobs_are_zstd_frames_and_others_raw() {
    let (_dir, s) = store();
    let big = s.put_blob(&text(1000), &Meta::default()).unwrap();
    let small = s.put_blob(b"tiny", &Meta::default()).unwrap();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    let random = s.put_blob(&noise, &Meta::default()).unwrap();
    let (path, enc) = s.object_path(&big).unwrap();
    assert_eq!(enc, Encoding::Zstd);
    assert_eq!(
        zstd::stream::decode_all(&fs::read(path).unwrap()[..]).unwrap(),
        text(1000)
    );
    assert!(s.object_path(&small).is_none(), "small blobs live in the index");
    assert_eq!(s.info(&small).unwrap().encoding, "raw");
    assert_eq!(s.object_path(&random).unwrap().1, Encoding::Raw);
    let medium = s.put_blob(&text(200), &Meta::default()).unwrap();
    let info = s.info(&medium).unwrap();
    assert!(info.inline && info.encoding == "zstd", "{info:?}");
    let info = s.info(&big).unwrap();
    assert_eq!(info.encoding, "zstd");
    assert!(info.stored_size < info.size / 10);
}

#[test]
fn lineage_tags_and_find() {
    let (_dir, s) = store();
    let data = s.put_blob(b"raw data", &Meta::default()).unwrap();
    let clean = s
        .put_blob(
            b"clean data",
            &Meta {
                kind: Some("table".into()),
                producer: Some("cleaner".into()),
                inputs: vec![data],
                tags: vec!["training".into()],
                quality: Some(0.9),
                ..Meta::default()
            },
        )
        .unwrap();
    let model = s
        .put_blob(
            b"weights",
            &Meta {
                kind: Some("model".into()),
                producer: Some("trainer".into()),
                inputs: vec![clean, data],
                ..Meta::default()
            },
        )
        .unwrap();
    assert_eq!(
        s.lineage(&model).unwrap(),
        vec![(model, clean), (model, data), (clean, data)]
    );
    assert_eq!(s.find(Some("table"), None, None).unwrap(), vec![clean]);
    assert_eq!(s.find(None, Some("training"), None).unwrap(), vec![clean]);
    assert_eq!(s.find(None, None, Some("trainer")).unwrap(), vec![model]);
    assert_eq!(s.find(None, None, None).unwrap().len(), 3);
    let info = s.info(&clean).unwrap();
    assert_eq!(
        (info.quality, info.tags.clone(), info.inputs.clone()),
        (Some(0.9), vec!["training".into()], vec![data])
    );
}

#[test]
fn damage_is_caught_on_read_and_by_verify() {
    let (_dir, s) = store();
    let a = s.put_blob(&text(1000), &Meta::default()).unwrap();
    let b = s.put_blob(&noise(20_000, 1), &Meta::default()).unwrap();
    let c = s.put_blob(&noise(20_000, 2), &Meta::default()).unwrap();
    assert!(s.verify().unwrap().is_ok());
    let (pa, _) = s.object_path(&a).unwrap();
    let mut bytes = fs::read(&pa).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&pa, bytes).unwrap();
    let (pb, _) = s.object_path(&b).unwrap();
    let mut bytes = fs::read(&pb).unwrap();
    bytes[0] ^= 1;
    fs::write(&pb, bytes).unwrap();
    fs::remove_file(s.object_path(&c).unwrap().0).unwrap();
    // A store opened now has nothing in memory: it reads the damaged files.
    let root = s.root().to_path_buf();
    drop(s);
    let s = Store::open(&root, Options::default()).unwrap();
    for h in [a, b, c] {
        assert!(matches!(s.get_by_hash(&h), Err(ArtifactError::Corrupt { .. })), "{h}");
    }
    let report = s.verify().unwrap();
    assert_eq!(report.checked, 3);
    assert_eq!(report.missing, vec![c]);
    let mut corrupt = report.corrupt.clone();
    corrupt.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(corrupt, expected);
    // Putting the content again repairs the blob.
    s.put_blob(&noise(20_000, 2), &Meta::default()).unwrap();
    assert_eq!(s.get_by_hash(&c).unwrap(), noise(20_000, 2));
}

#[test]
fn bad_folders_and_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    assert!(matches!(
        Store::open(dir.path(), Options::default()),
        Err(ArtifactError::NotAStore { .. })
    ));
    let newer = dir.path().join("newer");
    fs::create_dir(&newer).unwrap();
    fs::write(newer.join("FORMAT"), "symphony-artifacts 99\n").unwrap();
    let e = Store::open(&newer, Options::default()).err().unwrap();
    assert!(matches!(e, ArtifactError::NewerFormat { found: 99, .. }), "{e}");
    let bad = Options {
        level: 40,
        ..Options::default()
    };
    assert!(Store::open(dir.path().join("x"), bad).is_err());
    let (_d, s) = store();
    assert!(matches!(
        s.put("", b"x", &Meta::default()),
        Err(ArtifactError::Invalid(_))
    ));
    let nan = Meta {
        quality: Some(f64::NAN),
        ..Meta::default()
    };
    assert!(matches!(s.put_blob(b"x", &nan), Err(ArtifactError::Invalid(_))));
    assert!(Hash::from_hex("zz").is_err());
}

#[test]
fn reads_are_counted_in_batches_and_kept_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s");
    let h = {
        let s = Store::open(&root, Options::default()).unwrap();
        let h = s.put_blob(b"read me", &Meta::default()).unwrap();
        for _ in 0..3 {
            s.get_by_hash(&h).unwrap();
        }
        assert_eq!(s.info(&h).unwrap().access_count, 3, "info flushes first");
        s.get_by_hash(&h).unwrap();
        h
    }; // dropping the store writes the last read
    let s = Store::open(&root, Options::default()).unwrap();
    let info = s.info(&h).unwrap();
    assert_eq!(info.access_count, 4);
    assert!(info.accessed >= info.created);
}

#[test]
fn a_reopened_store_has_everything() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s");
    let h = {
        let s = Store::open(
            &root,
            Options {
                level: 19,
                durable: false,
                ..Options::default()
            },
        )
        .unwrap();
        s.put("a", &text(50), &Meta::default()).unwrap().0
    };
    let s = Store::open(&root, Options::default()).unwrap();
    assert_eq!(s.resolve("a", None).unwrap(), h);
    assert_eq!(s.get("a", Some(1)).unwrap(), text(50));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Whatever goes in comes out, under every name and version it was given.
    #[test]
    fn round_trips(blobs in prop::collection::vec((0u8..4, prop::collection::vec(any::<u8>(), 0..3000)), 1..12)) {
        // A cache of a few small blobs: puts and gets push one another out.
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("s"), Options { cache_bytes: 8192, ..Options::default() }).unwrap();
        let mut expected: Vec<(String, u32, Vec<u8>)> = Vec::new();
        for (name, data) in blobs {
            let name = format!("n{name}");
            let (_, v) = s.put(&name, &data, &Meta::default()).unwrap();
            expected.push((name, v, data));
        }
        for (name, v, data) in expected {
            prop_assert_eq!(s.get(&name, Some(v)).unwrap(), data);
        }
        prop_assert!(s.verify().unwrap().is_ok());
    }
}

#[test]
fn threads_putting_the_same_content_at_once_leave_one_whole_blob() {
    let (_dir, s) = store();
    let s = std::sync::Arc::new(s);
    let data = text(5000);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (s, data) = (s.clone(), data.clone());
            std::thread::spawn(move || {
                for i in 0..20 {
                    s.put(&format!("t{t}"), &data, &Meta::default()).unwrap();
                    s.put_blob(format!("{t}-{i}").as_bytes(), &Meta::default()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(s.verify().unwrap().is_ok());
    assert_eq!(s.history("t3").unwrap().len(), 20);
    assert!(
        fs::read_dir(s.root().join("tmp")).unwrap().next().is_none(),
        "no temporary file left"
    );
}

#[test]
fn a_torn_blob_is_written_again_by_the_next_put_of_its_content() {
    let (_dir, s) = store();
    let h = s.put_blob(&text(1000), &Meta::default()).unwrap();
    let (path, _) = s.object_path(&h).unwrap();
    let whole = fs::read(&path).unwrap();
    fs::write(&path, &whole[..whole.len() / 2]).unwrap(); // as a power cut might leave it
    s.put_blob(&text(1000), &Meta::default()).unwrap();
    assert_eq!(fs::read(&path).unwrap(), whole);
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn many_reads_of_one_blob_reach_the_index() {
    let (_dir, s) = store();
    let h = s.put_blob(b"hot", &Meta::default()).unwrap();
    for _ in 0..1024 {
        s.get_by_hash(&h).unwrap();
    }
    // Flushed by the count of reads, not of distinct blobs: visible to
    // another process's store now.
    let other = Store::open(s.root(), Options::default()).unwrap();
    assert_eq!(other.info(&h).unwrap().access_count, 1024);
}

#[test]
fn damage_to_an_inline_blob_is_caught() {
    let (_dir, s) = store();
    let h = s.put_blob(&text(100), &Meta::default()).unwrap();
    let root = s.root().to_path_buf();
    drop(s);
    let db = rusqlite::Connection::open(root.join("index.sqlite")).unwrap();
    db.execute(
        "UPDATE artifacts SET data = substr(data, 1, 20) || 'x' || substr(data, 22)",
        [],
    )
    .unwrap();
    drop(db);
    let s = Store::open(&root, Options::default()).unwrap();
    assert!(matches!(s.get_by_hash(&h), Err(ArtifactError::Corrupt { .. })));
    assert_eq!(s.verify().unwrap().corrupt, vec![h]);
}

#[test]
fn put_many_stores_a_batch_in_one_commit() {
    let (_dir, s) = store();
    let meta = Meta::default();
    let blobs: Vec<Vec<u8>> = (0..100).map(|i| format!("blob {i}").into_bytes()).collect();
    let mut items: Vec<pit_artifacts::Item> = blobs
        .iter()
        .map(|b| pit_artifacts::Item {
            data: b,
            meta: &meta,
            name: None,
        })
        .collect();
    let big = text(1000);
    items.push(pit_artifacts::Item {
        data: &big,
        meta: &meta,
        name: Some("big"),
    });
    items.push(pit_artifacts::Item {
        data: &big,
        meta: &meta,
        name: Some("big"),
    });
    let out = s.put_many(&items).unwrap();
    assert_eq!(out.len(), 102);
    assert_eq!((out[100].1, out[101].1), (Some(1), Some(2)));
    for (b, (h, _)) in blobs.iter().zip(&out) {
        assert_eq!(&s.get_by_hash(h).unwrap(), b);
    }
    assert_eq!(s.get("big", Some(2)).unwrap(), big);
}

#[test]
fn a_version_1_store_is_upgraded_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("old");
    let h = {
        let s = Store::open(&root, Options::default()).unwrap();
        s.put("big", &text(1000), &Meta::default()).unwrap().0
    };
    // What version 1 wrote: no inline column, FORMAT 1.
    let db = rusqlite::Connection::open(root.join("index.sqlite")).unwrap();
    db.execute_batch("ALTER TABLE artifacts DROP COLUMN data").unwrap();
    drop(db);
    fs::write(root.join("FORMAT"), "symphony-artifacts 1\n").unwrap();
    let s = Store::open(&root, Options::default()).unwrap();
    assert_eq!(s.get("big", None).unwrap(), text(1000));
    assert_eq!(s.get_by_hash(&h).unwrap(), text(1000));
    s.put_blob(b"small, inline", &Meta::default()).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("FORMAT")).unwrap().trim(),
        format!("symphony-artifacts {}", pit_artifacts::FORMAT_VERSION)
    );
}

#[test]
fn files_no_row_names_are_swept_once_old() {
    let (_dir, s) = store();
    let kept = s.put_blob(&noise(20_000, 7), &Meta::default()).unwrap();
    let (kept_path, _) = s.object_path(&kept).unwrap();
    let stray = s
        .root()
        .join("objects")
        .join("ab")
        .join(format!("{}.raw", "c".repeat(62)));
    fs::create_dir_all(stray.parent().unwrap()).unwrap();
    fs::write(&stray, b"left by a put that failed").unwrap();
    assert_eq!(s.sweep_orphans(60.0).unwrap(), 0, "too young: a put may be under way");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for p in [&stray, &kept_path] {
        fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    assert_eq!(s.sweep_orphans(60.0).unwrap(), 1);
    assert!(!stray.exists());
    assert_eq!(s.get_by_hash(&kept).unwrap(), noise(20_000, 7));
}

#[test]
fn pages_list_newest_first_with_names_and_pins() {
    let (_dir, s) = store();
    let table = Meta {
        kind: Some("table".into()),
        media_type: Some("text/csv".into()),
        ..Meta::default()
    };
    let mut hashes = Vec::new();
    for i in 0..25u32 {
        let meta = if i % 5 == 0 { table.clone() } else { Meta::default() };
        hashes.push(
            s.put(&format!("item-{i}"), format!("content {i}").as_bytes(), &meta)
                .unwrap()
                .0,
        );
    }
    let blob = s.put_blob(b"nameless", &Meta::default()).unwrap();
    s.pin(&hashes[3], Some("keep")).unwrap();
    let (total, first) = s.page(0, 10, None).unwrap();
    assert_eq!(total, 26);
    assert_eq!(first.len(), 10);
    assert_eq!(first[0].hash, blob, "newest first");
    assert_eq!(first[0].name, None);
    assert_eq!(first[1].name, Some(("item-24".to_owned(), 1)));
    let (_, last) = s.page(20, 10, None).unwrap();
    assert_eq!(last.len(), 6);
    assert_eq!(last[5].hash, hashes[0]);
    let pinned: Vec<_> = s
        .page(0, 100, None)
        .unwrap()
        .1
        .into_iter()
        .filter(|l| l.pinned)
        .collect();
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned[0].hash, hashes[3]);
    let (tables, listed) = s.page(0, 100, Some("table")).unwrap();
    assert_eq!(tables, 5);
    assert!(
        listed
            .iter()
            .all(|l| l.kind.as_deref() == Some("table") && l.media_type.as_deref() == Some("text/csv"))
    );
    // A second name for the same content: the page shows the newest.
    s.put("renamed", b"content 0", &Meta::default()).unwrap();
    let (_, again) = s.page(0, 100, Some("table")).unwrap();
    assert_eq!(again.last().unwrap().name, Some(("renamed".to_owned(), 1)));
    assert_eq!(s.page(1000, 10, None).unwrap(), (26, vec![]));
}

#[test]
fn the_journal_stays_bounded_and_an_old_snapshot_is_refused() {
    let (_dir, s) = store();
    let meta = Meta::default();
    let first = s.put_blob(b"first", &meta).unwrap();
    let snap = s.snapshot(&[]).unwrap();
    let n = (pit_artifacts::JOURNAL_KEEP + 3 * pit_artifacts::JOURNAL_TRIM_EVERY) as usize;
    let blobs: Vec<Vec<u8>> = (0..n).map(|i| format!("blob {i}").into_bytes()).collect();
    for chunk in blobs.chunks(4096) {
        let items: Vec<pit_artifacts::Item<'_>> = chunk
            .iter()
            .map(|data| pit_artifacts::Item {
                data,
                meta: &meta,
                name: None,
            })
            .collect();
        s.put_many(&items).unwrap();
    }
    let db = rusqlite::Connection::open(s.root().join("index.sqlite")).unwrap();
    let (rows, oldest, head): (i64, i64, i64) = db
        .query_row("SELECT COUNT(*), MIN(seq), MAX(seq) FROM journal", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert!(
        rows <= pit_artifacts::JOURNAL_KEEP + pit_artifacts::JOURNAL_TRIM_EVERY,
        "{rows} rows"
    );
    assert_eq!(head - oldest + 1, rows, "no gaps: the newest entries are all kept");
    // The snapshot from before can no longer tell what changed since: refused.
    let removal = pit_artifacts::Removal {
        hash: first,
        action: "delete".into(),
        rule: "test".into(),
    };
    match s.remove(std::slice::from_ref(&removal), snap.seq) {
        Err(ArtifactError::SnapshotTooOld { since, .. }) => assert_eq!(since, snap.seq),
        other => panic!("expected SnapshotTooOld, got {other:?}"),
    }
    assert!(s.contains(&first).unwrap(), "nothing removed on a refused snapshot");
    let fresh = s.snapshot(&[]).unwrap();
    assert_eq!(s.remove(&[removal], fresh.seq).unwrap(), vec![first]);
}

#[test]
fn a_large_compressed_blob_reads_back_whole_and_damage_is_named() {
    let (_dir, s) = store();
    // Half text, half noise: it compresses, and is large enough to be
    // decompressed and hashed on two threads.
    let mut data = text(200_000);
    data.truncate(6 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while data.len() < 12 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.push(x as u8);
    }
    let h = s.put_blob(&data, &Meta::default()).unwrap();
    assert_eq!(s.info(&h).unwrap().encoding, "zstd");
    let found = s.locate(&h).unwrap();
    assert_eq!(found.size(), data.len());
    let mut out = vec![0u8; data.len()];
    s.read_into(found, &mut out).unwrap();
    assert!(out == data);
    let file = fs::read_dir(s.root().join("objects"))
        .unwrap()
        .flat_map(|d| fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .next()
        .unwrap();
    let good = fs::read(&file).unwrap();
    for (how, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("flipped", {
            let mut b = good.clone();
            let mid = b.len() / 2;
            b[mid] ^= 0x40;
            b
        }),
    ] {
        fs::write(&file, &bytes).unwrap();
        let fresh = Store::open(
            s.root(),
            Options {
                cache_bytes: 0,
                ..Options::default()
            },
        )
        .unwrap();
        match fresh.get_by_hash(&h) {
            Err(ArtifactError::Corrupt { hash, .. }) => assert_eq!(hash, h, "{how}"),
            other => panic!("{how}: expected Corrupt, got {:?}", other.map(|d| d.len())),
        }
    }
    fs::write(&file, &good).unwrap();
}
