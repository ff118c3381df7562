//! The frame codec against truncated, oversized and random input.

use std::io::Write;
use std::os::unix::net::UnixStream;

use pit_bus::{BusError, Frame, FrameReader, Header, Kind, frame};
use proptest::prelude::*;

fn encoded(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let h = Header {
        kind: Kind::Request,
        id: 7,
        priority: 3,
        deadline_ms: 99,
    };
    frame::encode(&mut out, &h, payload, &[]);
    out
}

#[test]
fn round_trip() {
    let bytes = encoded(&[0x92, 0x01, 0xa1, b'x']);
    let f = Frame::decode(bytes[4..].to_vec()).unwrap();
    assert_eq!(
        f.header,
        Header {
            kind: Kind::Request,
            id: 7,
            priority: 3,
            deadline_ms: 99
        }
    );
    assert_eq!(f.payload(), &[0x92, 0x01, 0xa1, b'x']);
    assert_eq!(f.meta(), &[0x80]);
}

#[test]
fn oversized_is_refused_before_reading_the_body() {
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&(1u32 << 30).to_le_bytes()).unwrap();
    let mut r = FrameReader::new(b, 1 << 20);
    assert_eq!(
        r.next_frame(None).unwrap_err(),
        BusError::Oversized {
            length: 1 << 30,
            limit: 1 << 20
        }
    );
}

#[test]
fn truncated_names_the_lengths() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let bytes = encoded(&[0xc0]);
    a.write_all(&bytes[..bytes.len() - 2]).unwrap();
    drop(a);
    let mut r = FrameReader::new(b, 1 << 20);
    assert_eq!(
        r.next_frame(None).unwrap_err(),
        BusError::Truncated {
            expected: bytes.len(),
            got: bytes.len() - 2
        }
    );
}

#[test]
fn bad_message_type_and_stray_bytes() {
    let mut bytes = encoded(&[0xc0]);
    bytes[6] = 0x09;
    assert!(
        matches!(Frame::decode(bytes[4..].to_vec()), Err(BusError::Malformed(m)) if m.contains("unknown message type 9"))
    );
    let mut bytes = encoded(&[0xc0]);
    bytes.push(0);
    assert!(matches!(Frame::decode(bytes[4..].to_vec()), Err(BusError::Malformed(m)) if m.contains("stray")));
}

proptest! {
    #[test]
    fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Frame::decode(body);
    }

    #[test]
    fn random_streams_never_panic_or_overallocate(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&bytes).unwrap();
        drop(a);
        let mut r = FrameReader::new(b, 4096);
        for _ in 0..64 {
            match r.next_frame(None) {
                Ok(Some(_)) => continue,
                _ => break,
            }
        }
    }

    #[test]
    fn any_valid_header_round_trips(kind in 1u64..=8, id: u64, priority: u8, deadline: u64) {
        let h = Header { kind: Kind::from_u64(kind).unwrap(), id, priority, deadline_ms: deadline };
        let mut out = Vec::new();
        frame::encode(&mut out, &h, &[], &[]);
        prop_assert_eq!(Frame::decode(out[4..].to_vec()).unwrap().header, h);
    }
}
