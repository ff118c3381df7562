//! Host and endpoint over a real socket, in one process.

use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pit_bus::{BusError, Conn, DEFAULT_MAX_FRAME, Endpoint, Kind, Outgoing, Work, conn};

fn hello(protocol: &str) -> Vec<u8> {
    let mut p = Vec::new();
    rmp::encode::write_map_len(&mut p, 1).unwrap();
    rmp::encode::write_str(&mut p, "protocol").unwrap();
    rmp::encode::write_str(&mut p, protocol).unwrap();
    p
}

/// An echo extension on `workers` threads; returns the host's connection.
fn pair(workers: usize, delay: Duration) -> (tempfile::TempDir, Conn) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let p2 = path.clone();
    thread::spawn(move || {
        let ep = Endpoint::connect(&p2, &hello("1.3"), Duration::from_secs(5), DEFAULT_MAX_FRAME).unwrap();
        let hs: Vec<_> = (0..workers)
            .map(|_| {
                let ep = Arc::clone(&ep);
                thread::spawn(move || {
                    let mut busy = false;
                    while let Ok(Work::Requests(batch)) = ep.next(64, busy) {
                        busy = true;
                        thread::sleep(delay);
                        let answers: Vec<_> = batch.iter().map(|f| (f.header.id, false, f.payload())).collect();
                        if ep.respond(&answers).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    let stream = conn::accept(&listener, Instant::now() + Duration::from_secs(5)).unwrap();
    let c = Conn::new(stream, DEFAULT_MAX_FRAME).unwrap();
    c.handshake(Instant::now() + Duration::from_secs(5)).unwrap();
    (dir, c)
}

fn req(payload: &[u8]) -> Outgoing<'_> {
    Outgoing {
        kind: Kind::Request,
        payload,
        meta: &[],
        priority: 0,
        deadline_ms: 0,
    }
}

#[test]
fn echo_one_and_many_pipelined() {
    let (_d, c) = pair(1, Duration::ZERO);
    let f = c.call(req(&[0x2a]), None).unwrap();
    assert_eq!(f.payload(), &[0x2a]);
    let payloads: Vec<[u8; 1]> = (0..100u8).map(|i| [i]).collect();
    let reqs: Vec<_> = payloads.iter().map(|p| req(p)).collect();
    let ids = c.send(&reqs, None).unwrap();
    for (i, id) in ids.into_iter().enumerate().rev() {
        assert_eq!(c.wait(id, None).unwrap().payload(), &[i as u8]);
    }
    assert_eq!(c.pending(), 0);
}

#[test]
fn many_threads_share_one_connection() {
    let (_d, c) = pair(2, Duration::ZERO);
    let c = Arc::new(c);
    let hs: Vec<_> = (0..4u8)
        .map(|t| {
            let c = Arc::clone(&c);
            thread::spawn(move || {
                for i in 0..=250u8 {
                    let v = [t.wrapping_mul(100).wrapping_add(i) & 0x7f];
                    assert_eq!(c.call(req(&v), None).unwrap().payload(), &v);
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn heartbeat_is_answered_while_the_handler_is_busy() {
    let (_d, c) = pair(1, Duration::from_millis(300));
    let id = c.send(&[req(&[1])], None).unwrap()[0];
    thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    let hb = c.heartbeat(Duration::from_secs(2)).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "heartbeat waited for the handler"
    );
    assert_eq!(hb.payload()[..6], [0x82, 0xa4, b'b', b'u', b's', b'y']);
    assert_eq!(c.wait(id, None).unwrap().payload(), &[1]);
}

#[test]
fn timeout_then_late_answer_is_dropped() {
    let (_d, c) = pair(1, Duration::from_millis(200));
    let id = c.send(&[req(&[5])], None).unwrap()[0];
    let e = c
        .wait(id, Some(Instant::now() + Duration::from_millis(20)))
        .unwrap_err();
    assert!(matches!(e, BusError::Timeout { .. }), "{e}");
    // The next call still gets its own answer, not the late one.
    assert_eq!(c.call(req(&[6]), None).unwrap().payload(), &[6]);
}

#[test]
fn major_version_mismatch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let p2 = path.clone();
    let ext =
        thread::spawn(move || Endpoint::connect(&p2, &hello("2.0"), Duration::from_secs(5), DEFAULT_MAX_FRAME).err());
    let stream = conn::accept(&listener, Instant::now() + Duration::from_secs(5)).unwrap();
    let c = Conn::new(stream, DEFAULT_MAX_FRAME).unwrap();
    let e = c.handshake(Instant::now() + Duration::from_secs(5)).unwrap_err();
    assert_eq!(
        e,
        BusError::Incompatible {
            ours: "1.0".into(),
            theirs: "2.0".into()
        }
    );
    assert!(matches!(ext.join().unwrap(), Some(BusError::Incompatible { .. })));
}

#[test]
fn close_ends_waiting_calls_with_the_reason() {
    let (_d, c) = pair(1, Duration::from_secs(5));
    let c = Arc::new(c);
    let id = c.send(&[req(&[1])], None).unwrap()[0];
    let c2 = Arc::clone(&c);
    let h = thread::spawn(move || c2.wait(id, None));
    thread::sleep(Duration::from_millis(50));
    c.close(BusError::Closed("the extension crashed".into()));
    assert_eq!(
        h.join().unwrap().unwrap_err(),
        BusError::Closed("the extension crashed".into())
    );
}
