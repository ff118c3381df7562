use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pit_pool::{Clock, FunctionSpec, Pool, PoolConfig};

fn hot_path(c: &mut Criterion) {
    let mut p = Pool::new(PoolConfig::default()).unwrap();
    let f = p.register("f", FunctionSpec::default()).unwrap();
    let g = p.try_acquire(f, 0.0).unwrap().unwrap();
    p.release(g.lease, 0.0).unwrap();
    let mut clock = Clock::wall();
    c.bench_function("acquire_release_hot_wall_clock", |b| {
        b.iter(|| {
            let g = p.try_acquire(black_box(f), clock.now_fast()).unwrap().unwrap();
            p.release(g.lease, clock.now_fast()).unwrap();
        })
    });
    let mut clock = Clock::virtual_at(0.0);
    c.bench_function("acquire_release_hot_virtual_clock", |b| {
        b.iter(|| {
            let g = p.try_acquire(black_box(f), clock.now()).unwrap().unwrap();
            p.release(g.lease, clock.now()).unwrap();
        })
    });
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
