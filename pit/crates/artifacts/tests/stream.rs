//! Streaming puts and gets, mapped reads, and the clean-up of temporary
//! files left by killed writers.

use std::fs;
use std::io::{Cursor, Read};
use std::path::Path;

use pit_artifacts::{ArtifactError, Encoding, Hash, INLINE_MAX, Meta, Options, Store};

const MIB: usize = 1 << 20;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("store"), Options::default()).unwrap();
    (dir, s)
}

fn text(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(format!("line {i}: the quick brown fox jumps over the lazy dog\n").as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

/// Incompressible: xorshift output.
fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn streamed_puts_round_trip_with_the_hash_of_a_plain_put() {
    let (dir, s) = store();
    let (_other_dir, plain) = store();
    let sizes = [
        INLINE_MAX - 1,
        INLINE_MAX,
        INLINE_MAX + 1,
        MIB - 1,
        MIB,
        MIB + 1,
        2 * MIB,
        5 * MIB + 17,
    ];
    for (i, &n) in sizes.iter().enumerate() {
        for (data, compressible) in [(text(n), true), (random(n, i as u64 + 1), false)] {
            let name = format!("blob-{n}-{compressible}");
            let (h, v) = s.put_reader(Cursor::new(&data), Some(&name), &Meta::default()).unwrap();
            assert_eq!(v, Some(1));
            assert_eq!(h, Hash::of(&data), "{n} bytes");
            assert_eq!(h, plain.put_blob(&data, &Meta::default()).unwrap());
            assert_eq!(s.get_by_hash(&h).unwrap(), data);
            let mut out = Vec::new();
            assert_eq!(s.get_to_writer(&h, &mut out).unwrap(), n as u64);
            assert!(out == data, "get_to_writer of {n} bytes");
            let dest = dir.path().join(format!("out-{n}-{compressible}"));
            assert_eq!(s.get_to_path(&h, &dest).unwrap(), n as u64);
            assert!(fs::read(&dest).unwrap() == data, "get_to_path of {n} bytes");
            let info = s.info(&h).unwrap();
            assert_eq!(info.size, n as u64);
            assert_eq!(info.inline, n <= INLINE_MAX, "{n} bytes");
            let expected = if compressible { "zstd" } else { "raw" };
            assert_eq!(info.encoding, expected, "{n} bytes");
            if !info.inline {
                let (path, encoding) = s.object_path(&h).unwrap();
                assert_eq!(fs::metadata(&path).unwrap().len(), info.stored_size);
                if encoding == Encoding::Zstd {
                    // What `zstd -d` does: a plain frame.
                    let decoded = zstd::stream::decode_all(fs::File::open(&path).unwrap()).unwrap();
                    assert!(decoded == data, "the zstd frame of {n} bytes");
                    assert!(info.stored_size < n as u64 / 4);
                } else {
                    assert!(fs::read(&path).unwrap() == data);
                }
            }
            // Stored once: a second streamed put of the same bytes only adds a version.
            let (again, v2) = s.put_reader(Cursor::new(&data), Some(&name), &Meta::default()).unwrap();
            assert_eq!((again, v2), (h, Some(2)));
        }
    }
    assert!(s.verify().unwrap().is_ok());
    assert_eq!(
        files(&s.root().join("tmp")),
        Vec::<String>::new(),
        "no temporary file stays"
    );
}

#[test]
fn a_streamed_put_records_metadata_and_reads_from_a_file() {
    let (dir, s) = store();
    let data = text(3 * MIB);
    let path = dir.path().join("input.txt");
    fs::write(&path, &data).unwrap();
    let parent = s.put_blob(b"parent", &Meta::default()).unwrap();
    let meta = Meta {
        kind: Some("log".into()),
        media_type: Some("text/plain".into()),
        producer: Some("tester".into()),
        inputs: vec![parent],
        quality: Some(0.5),
        tags: vec!["big".into()],
    };
    let (h, v) = s.put_path(&path, None, &meta).unwrap();
    assert_eq!((h, v), (Hash::of(&data), None));
    let info = s.info(&h).unwrap();
    assert_eq!(info.kind.as_deref(), Some("log"));
    assert_eq!(info.inputs, vec![parent]);
    assert_eq!(info.tags, vec!["big".to_owned()]);
    assert_eq!(s.lineage(&h).unwrap(), vec![(h, parent)]);
    let missing = s.put_path(dir.path().join("nope"), None, &Meta::default()).unwrap_err();
    assert!(
        matches!(&missing, ArtifactError::Io { path, .. } if path.ends_with("nope")),
        "{missing}"
    );
}

/// Gives `good` bytes, then fails.
struct Failing {
    good: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.good == 0 {
            return Err(std::io::Error::other("the source broke"));
        }
        let n = buf.len().min(self.good).min(100_000);
        buf[..n].fill(7);
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn a_reader_failing_midway_stores_nothing_and_leaves_no_file() {
    let (_dir, s) = store();
    let err = s
        .put_reader(Failing { good: 3 * MIB }, Some("broken"), &Meta::default())
        .unwrap_err();
    assert!(err.to_string().contains("the source broke"), "{err}");
    assert!(matches!(
        s.resolve("broken", None),
        Err(ArtifactError::UnknownName { .. })
    ));
    assert_eq!(files(&s.root().join("tmp")), Vec::<String>::new());
    assert_eq!(files(&s.root().join("objects")), Vec::<String>::new());
    let bad = Meta {
        quality: Some(f64::NAN),
        ..Meta::default()
    };
    assert!(matches!(
        s.put_reader(Cursor::new(text(MIB)), None, &bad),
        Err(ArtifactError::Invalid(_))
    ));
}

#[test]
fn a_streamed_put_after_a_delete_writes_the_file_again() {
    let (_dir, s) = store();
    let data = random(2 * MIB, 9);
    let (h, _) = s.put_reader(Cursor::new(&data), None, &Meta::default()).unwrap();
    s.delete(&h).unwrap();
    assert!(s.object_path(&h).is_none());
    let (again, _) = s.put_reader(Cursor::new(&data), None, &Meta::default()).unwrap();
    assert_eq!(again, h);
    assert!(&*s.map(&h).unwrap() == data.as_slice());
    // A torn file (a power cut without fsync) is written again too.
    let (path, _) = s.object_path(&h).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(1000).unwrap();
    drop(f);
    s.put_reader(Cursor::new(&data), None, &Meta::default()).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), data.len() as u64);
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn raw_blobs_are_mapped_and_others_decoded() {
    let (_dir, s) = store();
    let raw = random(3 * MIB + 5, 3);
    let (h, _) = s.put_reader(Cursor::new(&raw), None, &Meta::default()).unwrap();
    let m = s.map(&h).unwrap();
    assert!(m.is_mapped());
    assert!(&*m == raw.as_slice());
    let packed = text(3 * MIB);
    let hp = s.put_blob(&packed, &Meta::default()).unwrap();
    let m = s.map(&hp).unwrap();
    assert!(!m.is_mapped());
    assert!(&*m == packed.as_slice());
    let small = s.put_blob(b"tiny", &Meta::default()).unwrap();
    assert_eq!(&*s.map(&small).unwrap(), b"tiny");
    let empty = s.put_blob(b"", &Meta::default()).unwrap();
    assert!(s.map(&empty).unwrap().is_empty());
    assert!(matches!(s.map(&Hash::of(b"never")), Err(ArtifactError::UnknownHash(_))));
    assert_eq!(s.info(&h).unwrap().access_count, 1);
}

#[test]
fn corrupt_blobs_give_corrupt_and_write_nothing() {
    let (dir, s) = store();
    let raw = random(2 * MIB, 4);
    let (h, _) = s.put_reader(Cursor::new(&raw), None, &Meta::default()).unwrap();
    let (path, encoding) = s.object_path(&h).unwrap();
    assert_eq!(encoding, Encoding::Raw);
    flip_byte(&path, MIB + 3);
    assert!(matches!(s.map(&h), Err(ArtifactError::Corrupt { .. })));
    let mut out = Vec::new();
    assert!(matches!(
        s.get_to_writer(&h, &mut out),
        Err(ArtifactError::Corrupt { .. })
    ));
    assert!(out.is_empty(), "a writer gets no byte of a corrupt blob");
    let dest = dir.path().join("dest.bin");
    assert!(matches!(s.get_to_path(&h, &dest), Err(ArtifactError::Corrupt { .. })));
    assert!(!dest.exists());
    assert_eq!(
        files(dir.path()),
        vec!["store".to_owned()],
        "no temporary file beside dest"
    );

    let packed = text(2 * MIB);
    let (hz, _) = s.put_reader(Cursor::new(&packed), None, &Meta::default()).unwrap();
    let (path, encoding) = s.object_path(&hz).unwrap();
    assert_eq!(encoding, Encoding::Zstd);
    let len = fs::metadata(&path).unwrap().len() as usize;
    flip_byte(&path, len / 2);
    let mut out = Vec::new();
    assert!(matches!(
        s.get_to_writer(&hz, &mut out),
        Err(ArtifactError::Corrupt { .. })
    ));
    assert!(out.is_empty());
    assert!(matches!(s.get_to_path(&hz, &dest), Err(ArtifactError::Corrupt { .. })));
    assert!(!dest.exists());
    assert!(matches!(s.map(&hz), Err(ArtifactError::Corrupt { .. })));

    // A raw file of the wrong length is caught before it is mapped.
    let raw2 = random(2 * MIB, 5);
    let (h2, _) = s.put_reader(Cursor::new(&raw2), None, &Meta::default()).unwrap();
    let (path, _) = s.object_path(&h2).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .set_len(2 * MIB as u64 + 1)
        .unwrap();
    assert!(matches!(s.map(&h2), Err(ArtifactError::Corrupt { .. })));
    fs::remove_file(&path).unwrap();
    assert!(matches!(
        s.get_to_writer(&h2, Vec::new()),
        Err(ArtifactError::Corrupt { .. })
    ));
}

#[test]
fn temporary_files_of_dead_writers_are_removed_at_open() {
    let (_dir, s) = store();
    let root = s.root().to_path_buf();
    drop(s);
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let live = std::process::id();
    let tmp = root.join("tmp");
    let dead_files = [format!("ab12.zst.{dead}-0.tmp"), format!("stream.{dead}-7.tmp")];
    let kept = [
        format!("cd34.raw.{live}-3.tmp"),
        format!("stream.{live}-1.tmp"),
        "notes.txt".to_owned(),
        "odd.1.tmp".to_owned(),
    ];
    for name in dead_files.iter().chain(&kept) {
        fs::write(tmp.join(name), b"partial").unwrap();
    }
    let s = Store::open(&root, Options::default()).unwrap();
    let mut expected = kept.to_vec();
    expected.sort();
    assert_eq!(files(&tmp), expected);
    drop(s);
}
