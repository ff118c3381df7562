"""The Stage's bus against pyzmq and multiprocessing, all across real processes.

Four measurements, each against a peer doing the same work in the same run:

- round trip of a no-op call: ``BusConnection.call`` to an echo extension
  (``BusEndpoint`` in a child process), against pyzmq REQ/REP over ``ipc://``
  and ``multiprocessing.Pipe``, each talking to an echo child;
- pipelined throughput: ``call_many`` of 10,000 calls, against pyzmq DEALER/
  ROUTER with 10,000 messages in flight and a Pipe written 10,000 times while a
  thread reads the answers;
- a no-op extension function through the whole host (``Stage.call``: manifest,
  supervisor, SDK runtime and handler), against the same Pipe round trip.

Both ends of our bus poll the socket for up to 50 us before they sleep
(``HOST_SPIN``/``ENDPOINT_SPIN`` in pit-bus), which saves a wake-up on each
side when the answer is that close; the peers sleep at once, as they do by
default.

Both ends stop spinning for a while when their spins keep just missing
(the cores are all busy, and a spin takes the core the peer needs): see
``SpinBackoff`` in pit-bus. ``--load N`` keeps N processes spinning on the
CPU for the whole run, to compare the same calls with every core busy.

Targets: round trip <= 30 us, pipelined >= 100,000 calls/s, full host <= 100 us;
under load, a round trip no slower than pyzmq's.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import zmq
from measured import record

from symphony_lab import pit
from symphony_lab.stage import Stage

ECHO = textwrap.dedent(
    """
    import sys
    from symphony_lab import pit
    ep = pit.BusEndpoint.connect(sys.argv[1], {"name": "echo"})
    busy = False
    while (batch := ep.next(256, busy)) is not None:
        busy = True
        ep.respond([(i, a) for i, f, a in batch])
    """
)

NOOP = textwrap.dedent(
    """
    from symphony_lab.sdk import operator

    @operator
    def noop():
        return None
    """
)


def pipe_echo(conn: Connection) -> None:
    while (msg := conn.recv()) is not None:
        conn.send(msg)


def zmq_rep(address: str) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.REP)
    s.bind(address)
    while (msg := s.recv()) != b"stop":
        s.send(msg)
    s.send(b"")
    s.close()
    ctx.term()


def zmq_router(address: str) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    # A ROUTER drops what it cannot queue past its high-water mark: with
    # 10,000 answers in flight the dealer would wait for ever for the lost ones.
    s.setsockopt(zmq.SNDHWM, 0)
    s.setsockopt(zmq.RCVHWM, 0)
    s.bind(address)
    while True:
        ident, msg = s.recv_multipart()
        s.send_multipart([ident, msg])
        if msg == b"stop":
            break
    s.close()
    ctx.term()


def timed(fn: Callable[[], None], n: int, repeats: int) -> float:
    """Median seconds per operation over ``repeats`` runs of ``n``."""
    for _ in range(min(n, 500)):
        fn()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t) / n)
    return statistics.median(runs)


def median_rate(batch: Callable[[], None], n: int, repeats: int) -> float:
    batch()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        batch()
        runs.append(n / (time.perf_counter() - t))
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=5000, help="round trips per timing")
    ap.add_argument("--pipelined", type=int, default=10_000, help="calls in flight")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--load",
        type=int,
        nargs="?",
        const=1,
        default=0,
        help="processes kept spinning on the CPU during the run (--load alone: 1)",
    )
    args = ap.parse_args()
    n, k, r = args.calls, args.pipelined, args.repeats
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        measure(ap, args, n, k, r)
    finally:
        for busy in load:
            busy.kill()
            busy.wait()


def measure(ap: argparse.ArgumentParser, args: argparse.Namespace, n: int, k: int, r: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-bus-"))

    # Ours: an echo extension over the bus.
    (tmp / "echo.py").write_text(ECHO)
    listener = pit.BusListener(tmp / "bus.sock")
    child = subprocess.Popen([sys.executable, str(tmp / "echo.py"), str(listener.path)])
    conn = listener.accept(30)
    conn.handshake(10)
    ours_rt = timed(lambda: conn.call("noop", None, timeout=10.0), n, r)
    payload = [None] * k
    ours_rate = median_rate(lambda: conn.call_many("noop", payload, timeout=30.0), k, r)

    # Peer: multiprocessing.Pipe to an echo child.
    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe()
    p = ctx.Process(target=pipe_echo, args=(b,), daemon=True)
    p.start()

    # None is the child's signal to stop; a no-op call sends 0.
    def pipe_call() -> None:
        a.send(0)
        a.recv()

    def pipe_batch() -> None:
        # Writing all before reading would deadlock once both socket buffers fill.
        reader = threading.Thread(target=lambda: [a.recv() for _ in range(k)])
        reader.start()
        for _ in range(k):
            a.send(0)
        reader.join()

    pipe_rt = timed(pipe_call, n, r)
    pipe_rate = median_rate(pipe_batch, k, r)

    # Peer: pyzmq REQ/REP and DEALER/ROUTER over ipc://.
    zctx = zmq.Context()
    rep_addr, router_addr = f"ipc://{tmp}/rep", f"ipc://{tmp}/router"
    zr = ctx.Process(target=zmq_rep, args=(rep_addr,), daemon=True)
    zr.start()
    req = zctx.socket(zmq.REQ)
    req.connect(rep_addr)

    def zmq_call() -> None:
        req.send(b"")
        req.recv()

    zmq_rt = timed(zmq_call, n, r)
    zd = ctx.Process(target=zmq_router, args=(router_addr,), daemon=True)
    zd.start()
    dealer = zctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.SNDHWM, 0)
    dealer.setsockopt(zmq.RCVHWM, 0)
    dealer.connect(router_addr)

    def zmq_batch() -> None:
        for _ in range(k):
            dealer.send(b"")
        for _ in range(k):
            dealer.recv()

    zmq_rate = median_rate(zmq_batch, k, r)

    # Ours, whole host: Stage -> supervisor -> bus -> SDK runtime -> handler.
    ext = tmp / "noop"
    ext.mkdir()
    (ext / "noop_ext.py").write_text(NOOP)
    (ext / "symphony.toml").write_text(
        'name = "noop"\nversion = "1.0.0"\nkind = "operator"\nentry = "noop_ext"\n'
        '[[functions]]\nname = "noop"\n'
    )
    with Stage([ext]) as stage:
        host_rt = timed(lambda: stage.call("noop.noop"), n, r)
    pipe_rt2 = timed(pipe_call, n, r)

    conn.shutdown()
    child.wait(10)
    a.send(None)
    req.send(b"stop")
    req.recv()
    dealer.send(b"stop")
    dealer.recv()
    zctx.destroy()

    us = 1e6
    if args.load:
        print(f"with {args.load} process(es) spinning on the CPU all along")
    print(f"round trip of a no-op call, median of {r} x {n}:")
    print(f"  bus call            {ours_rt * us:7.1f} us   (target <= 30)")
    print(f"  pyzmq REQ/REP ipc   {zmq_rt * us:7.1f} us   ratio ours/zmq  {ours_rt / zmq_rt:.2f}")
    print(f"  multiprocessing.Pipe{pipe_rt * us:7.1f} us   ratio ours/pipe {ours_rt / pipe_rt:.2f}")
    print(f"pipelined, {k} calls in flight, median of {r}:")
    print(f"  bus call_many       {ours_rate:11,.0f} calls/s   (target >= 100,000)")
    zr, pr = ours_rate / zmq_rate, ours_rate / pipe_rate
    print(f"  pyzmq DEALER/ROUTER {zmq_rate:11,.0f} calls/s   ratio ours/zmq  {zr:.2f}")
    print(f"  multiprocessing.Pipe{pipe_rate:11,.0f} calls/s   ratio ours/pipe {pr:.2f}")
    print("no-op extension function through the whole host:")
    print(f"  Stage.call          {host_rt * us:7.1f} us   (target <= 100)")
    print(f"  multiprocessing.Pipe{pipe_rt2 * us:7.1f} us   ratio {host_rt / pipe_rt2:.2f}")
    figures = {
        "round_trip_s": {"bus": ours_rt, "pipe": pipe_rt, "zmq": zmq_rt},
        "pipelined_per_s": {"bus": ours_rate, "pipe": pipe_rate, "zmq": zmq_rate},
        "stage_call_s": host_rt,
        "pipe_again_s": pipe_rt2,
    }
    record("bus", figures, ap, args)


if __name__ == "__main__":
    main()
