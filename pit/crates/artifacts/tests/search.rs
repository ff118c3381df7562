//! Full-text search: ranking, filters, what is searchable, and the index
//! kept in step with puts, removals and other stores of the same folder.

use pit_artifacts::{ArtifactError, Hash, Hit, Meta, Options, Removal, Store, Stored};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("store"), Options::default()).unwrap();
    (dir, s)
}

fn text_meta(kind: &str) -> Meta {
    Meta {
        kind: Some(kind.into()),
        media_type: Some("text/plain".into()),
        ..Meta::default()
    }
}

fn hashes(hits: &[Hit]) -> Vec<Hash> {
    hits.iter().map(|h| h.hash).collect()
}

fn search(s: &Store, q: &str) -> Vec<Hash> {
    hashes(&s.search(q, None, 10).unwrap())
}

#[test]
fn more_mentions_and_a_name_rank_first() {
    let (_dir, s) = store();
    let meta = text_meta("note");
    let once = s
        .put_blob(b"the optimiser took one gradient step and stopped", &meta)
        .unwrap();
    let often = s
        .put_blob(
            b"gradient after gradient: the gradient norm and the gradient clip",
            &meta,
        )
        .unwrap();
    let never = s.put_blob(b"nothing to see here", &meta).unwrap();
    let hits = s.search("gradient", None, 10).unwrap();
    assert_eq!(hashes(&hits), vec![often, once]);
    assert!(hits[0].score > hits[1].score && hits[1].score > 0.0);
    assert!(!search(&s, "gradient").contains(&never));

    // A match in a name outweighs one word in a longer text.
    let (named, _) = s
        .put("momentum", b"plain words about nothing in particular", &meta)
        .unwrap();
    let mentions = s
        .put_blob(
            b"we kept the momentum at nine tenths for the first epochs of the run",
            &meta,
        )
        .unwrap();
    assert_eq!(search(&s, "momentum"), vec![named, mentions]);
    // The limit keeps the best.
    assert_eq!(hashes(&s.search("gradient", None, 1).unwrap()), vec![often]);
}

#[test]
fn kind_filters_and_hits_say_what_they_are() {
    let (_dir, s) = store();
    let report = s.put("weekly", b"loss fell below one", &text_meta("report")).unwrap().0;
    let log = s.put_blob(b"loss 0.93 at step 400", &text_meta("log")).unwrap();
    let mut all = search(&s, "loss");
    all.sort();
    let mut both = vec![report, log];
    both.sort();
    assert_eq!(all, both);
    let hits = s.search("loss", Some("report"), 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].hash, hits[0].kind.as_deref(), hits[0].media_type.as_deref()),
        (report, Some("report"), Some("text/plain"))
    );
    assert_eq!(hits[0].names, vec!["weekly".to_owned()]);
    assert_eq!(hashes(&s.search("loss", Some("log"), 10).unwrap()), vec![log]);
    assert!(s.search("loss", Some("nope"), 10).unwrap().is_empty());
    // The kind filter adds nothing to the score.
    let unfiltered = s.search("loss", None, 10).unwrap();
    let score = |h: &[Hit], of: Hash| h.iter().find(|x| x.hash == of).unwrap().score;
    assert_eq!(score(&hits, report), score(&unfiltered, report));
    // The kind is searchable too, as are the media type and hash by field.
    assert_eq!(search(&s, "report"), vec![report]);
    assert_eq!(search(&s, &format!("hash:{}", log.to_hex())), vec![log]);
    assert_eq!(search(&s, "media_type:\"text/plain\"").len(), 2);
}

#[test]
fn names_tags_and_producers_are_searchable_and_follow_changes() {
    let (_dir, s) = store();
    let binary = Meta {
        media_type: Some("application/octet-stream".into()),
        producer: Some("train_resnet".into()),
        tags: vec!["baseline".into()],
        ..Meta::default()
    };
    let (h, _) = s
        .put("checkpoints/resnet-50", &[0u8, 159, 146, 150, 1, 2, 3], &binary)
        .unwrap();
    assert_eq!(search(&s, "resnet"), vec![h], "in its name and producer");
    assert_eq!(search(&s, "checkpoints"), vec![h]);
    assert_eq!(search(&s, "baseline"), vec![h]);
    assert_eq!(search(&s, "tags:baseline"), vec![h]);
    assert_eq!(search(&s, "producer:train"), vec![h]);
    // A new tag, and a second name, each reach the index.
    s.put_blob(
        &[0u8, 159, 146, 150, 1, 2, 3],
        &Meta {
            tags: vec!["golden".into()],
            ..Meta::default()
        },
    )
    .unwrap();
    s.put("best", &[0u8, 159, 146, 150, 1, 2, 3], &Meta::default()).unwrap();
    assert_eq!(search(&s, "golden"), vec![h]);
    let hit = &s.search("best", None, 10).unwrap()[0];
    assert_eq!(hit.names, vec!["best".to_owned(), "checkpoints/resnet-50".to_owned()]);
    // A forgotten name is no longer found.
    s.delete_ref("best").unwrap();
    assert!(search(&s, "best").is_empty());
    assert_eq!(search(&s, "resnet"), vec![h]);
}

#[test]
fn removed_artifacts_disappear_and_restored_ones_come_back() {
    let (_dir, s) = store();
    let meta = text_meta("note");
    let gone = s.put_blob(b"a note about zebras", &meta).unwrap();
    let kept = s.put_blob(b"another note about zebras", &meta).unwrap();
    assert_eq!(search(&s, "zebras").len(), 2);
    s.delete(&gone).unwrap();
    assert_eq!(search(&s, "zebras"), vec![kept]);

    // The stale manager's removal: archived, then restored.
    let (stored, encoding, info) = s.stored(&kept).unwrap();
    let Stored::Inline(bytes) = stored else {
        panic!("small blobs are inline")
    };
    let removal = Removal {
        hash: kept,
        action: "archive".into(),
        rule: "test".into(),
    };
    assert_eq!(s.remove(&[removal], i64::MAX).unwrap(), vec![kept]);
    assert!(search(&s, "zebras").is_empty());
    s.restore(bytes, encoding, &info).unwrap();
    assert_eq!(search(&s, "zebras"), vec![kept]);
}

#[test]
fn bad_queries_and_limits_are_invalid() {
    let (_dir, s) = store();
    s.put_blob(b"some text", &text_meta("note")).unwrap();
    for q in ["nosuchfield:text", "hash:[a TO"] {
        match s.search(q, None, 10) {
            Err(ArtifactError::Invalid(why)) => assert!(why.contains(q), "{why}"),
            other => panic!("{q}: {other:?}"),
        }
    }
    assert!(matches!(s.search("text", None, 0), Err(ArtifactError::Invalid(_))));
    assert!(matches!(s.search("  ", None, 10), Err(ArtifactError::Invalid(_))));
    // A huge limit is no allocation of that size.
    assert_eq!(s.search("text", None, usize::MAX).unwrap().len(), 1);
}

#[test]
fn a_second_store_on_the_folder_sees_the_first_ones_puts() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path().join("s"), Options::default()).unwrap();
    let b = Store::open(dir.path().join("s"), Options::default()).unwrap();
    let ha = a.put_blob(b"aardvark", &text_meta("note")).unwrap();
    assert_eq!(search(&b, "aardvark"), vec![ha]);
    let hb = b.put_blob(b"bonobo", &text_meta("note")).unwrap();
    assert_eq!(search(&a, "bonobo"), vec![hb]);
    a.delete(&hb).unwrap();
    assert!(search(&b, "bonobo").is_empty());
    drop((a, b));
    // Opened again later: the index on disk is kept, and still right.
    let c = Store::open(dir.path().join("s"), Options::default()).unwrap();
    assert_eq!(search(&c, "aardvark"), vec![ha]);
    assert!(search(&c, "bonobo").is_empty());
}

#[test]
fn text_is_told_from_binary_and_only_the_first_mib_is_indexed() {
    let (_dir, s) = store();
    // No media type: UTF-8 is text, bytes with a NUL or not UTF-8 are not.
    let untyped = s.put_blob("plain untyped words".as_bytes(), &Meta::default()).unwrap();
    s.put_blob(b"words\0hidden in binary", &Meta::default()).unwrap();
    s.put_blob(b"\xffwords hidden in latin1 \xe9", &Meta::default())
        .unwrap();
    let png = Meta {
        media_type: Some("image/png".into()),
        ..Meta::default()
    };
    s.put_blob(b"words hidden in a png", &png).unwrap();
    assert_eq!(search(&s, "words"), vec![untyped]);
    assert!(search(&s, "hidden").is_empty());
    // A JSON document with parameters in its media type.
    let json = Meta {
        media_type: Some("application/json; charset=utf-8".into()),
        ..Meta::default()
    };
    let j = s.put_blob(br#"{"optimizer": "adamw"}"#, &json).unwrap();
    assert_eq!(search(&s, "adamw"), vec![j]);

    // A large blob in its own (zstd) file: its beginning is found, what
    // lies past the first MiB is not.
    let mut big = String::from("preamble ");
    while big.len() < (1 << 20) + 4096 {
        big.push_str("filler ");
    }
    big.push_str("epilogue");
    let h = s.put_blob(big.as_bytes(), &text_meta("log")).unwrap();
    assert!(s.object_path(&h).is_some());
    assert_eq!(search(&s, "preamble"), vec![h]);
    assert!(search(&s, "epilogue").is_empty());
}

#[test]
fn a_deleted_index_is_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s");
    let s = Store::open(&root, Options::default()).unwrap();
    let meta = text_meta("note");
    let hs: Vec<Hash> = (0..50)
        .map(|i| s.put_blob(format!("entry {i} word{i}").as_bytes(), &meta).unwrap())
        .collect();
    assert_eq!(search(&s, "word7"), vec![hs[7]]);
    std::fs::remove_dir_all(root.join("search")).unwrap();
    assert_eq!(search(&s, "word42"), vec![hs[42]]);
    assert_eq!(s.search("entry", None, 100).unwrap().len(), 50);
    drop(s);
    // A folder holding only what a store makes (as another process
    // creating it would leave it, before its FORMAT file) opens.
    std::fs::remove_file(root.join("FORMAT")).unwrap();
    assert!(Store::open(&root, Options::default()).is_ok());
}

#[test]
fn a_search_waits_while_another_writer_holds_the_index() {
    use std::os::fd::AsRawFd;
    let (_dir, s) = store();
    s.put_blob(b"first words", &text_meta("note")).unwrap();
    assert_eq!(search(&s, "first").len(), 1);
    // Hold tantivy's writer lock (a flock, as another process's writer would).
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(s.root().join("search").join(".tantivy-writer.lock"))
        .unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let h = s.put_blob(b"second words", &text_meta("note")).unwrap();
    let held = std::time::Duration::from_millis(300);
    let release = std::thread::spawn(move || {
        std::thread::sleep(held);
        drop(lock);
    });
    let t = std::time::Instant::now();
    assert_eq!(search(&s, "second"), vec![h]);
    assert!(t.elapsed() >= held, "the search waited for the lock");
    release.join().unwrap();
}
