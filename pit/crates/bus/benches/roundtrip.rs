//! Round trip of a one-byte call between two threads over a Unix socket:
//! the bus's own cost, without Python on either side.

use std::os::unix::net::UnixListener;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use pit_bus::{Conn, DEFAULT_MAX_FRAME, Endpoint, Kind, Outgoing, Work, conn};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let p2 = path.clone();
    thread::spawn(move || {
        let mut hello = Vec::new();
        rmp::encode::write_map_len(&mut hello, 1).unwrap();
        rmp::encode::write_str(&mut hello, "protocol").unwrap();
        rmp::encode::write_str(&mut hello, "1.0").unwrap();
        let ep = Endpoint::connect(&p2, &hello, Duration::from_secs(5), DEFAULT_MAX_FRAME).unwrap();
        let mut busy = false;
        while let Ok(Work::Requests(batch)) = ep.next(256, busy) {
            busy = true;
            let answers: Vec<_> = batch.iter().map(|f| (f.header.id, false, f.payload())).collect();
            ep.respond(&answers).unwrap();
        }
    });
    let stream = conn::accept(&listener, Instant::now() + Duration::from_secs(5)).unwrap();
    let conn = Conn::new(stream, DEFAULT_MAX_FRAME).unwrap();
    conn.handshake(Instant::now() + Duration::from_secs(5)).unwrap();
    let req = || Outgoing {
        kind: Kind::Request,
        payload: &[0xc0],
        meta: &[],
        priority: 0,
        deadline_ms: 0,
    };
    c.bench_function("round trip", |b| b.iter(|| conn.call(req(), None).unwrap()));
    c.bench_function("pipelined x1000", |b| {
        let reqs: Vec<_> = (0..1000).map(|_| req()).collect();
        b.iter(|| {
            let ids = conn.send(&reqs, None).unwrap();
            ids.into_iter().for_each(|id| {
                conn.wait(id, None).unwrap();
            });
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
