"""The bus from Python: real sockets, a real extension process, and hostile peers."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony_lab import pit
from symphony_lab.pit import (
    BusClosed,
    BusError,
    BusTimeout,
    CallCancelled,
    FrameError,
    ProtocolMismatch,
    RemoteError,
)

ECHO = textwrap.dedent(
    """
    import sys, time
    from symphony_lab import pit
    from symphony_lab.pit import BusClosed
    ep = pit.BusEndpoint.connect(sys.argv[1], {"name": "echo"})
    busy = False
    while (batch := ep.next(64, busy)) is not None:
        busy = True
        for i, f, a in batch:
            if f == "fail":
                ep.fail(i, "ValueError", "no good", "Traceback: here")
            elif f == "sleep":
                time.sleep(a)
                ep.respond([(i, a)])
            elif f == "emit":
                ep.emit({"n": a})
                ep.respond([(i, None)])
            else:
                ep.respond([(i, a)])
    """
)


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[pit.BusConnection]:
    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    listener = pit.BusListener(tmp_path / "bus.sock")
    proc = subprocess.Popen([sys.executable, str(script), str(listener.path)])
    conn = listener.accept(30)
    assert conn.handshake(10) == {"name": "echo", "protocol": pit.BUS_PROTOCOL}
    yield conn
    if conn.closed is None:
        conn.shutdown()
        assert proc.wait(10) == 0
    else:
        proc.kill()
        proc.wait(10)
    listener.close()


PAYLOADS = [
    None,
    True,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    1.5,
    "",
    "é∑🎼",
    b"\x00\xff",
    [1, [2, [3]]],
    {"a": {"b": [None, 1.0]}, "n": 3},
]


def test_payloads_round_trip_through_a_real_extension(echo: pit.BusConnection) -> None:
    for p in PAYLOADS:
        assert echo.call("echo", p) == p
    assert echo.call("echo", (1, 2)) == [1, 2]  # tuples arrive as lists
    assert echo.call_many("echo", PAYLOADS) == PAYLOADS


def test_unsendable_payloads_are_refused_with_the_reason(echo: pit.BusConnection) -> None:
    with pytest.raises(TypeError, match=r"cannot send a set over the bus.*ArtifactStore"):
        echo.call("echo", {1, 2})
    with pytest.raises(OverflowError):
        echo.call("echo", 2**64)
    assert echo.call("echo", 1) == 1


def test_remote_errors_keep_type_message_and_traceback(echo: pit.BusConnection) -> None:
    with pytest.raises(RemoteError) as e:
        echo.call("fail")
    assert (e.value.remote_type, e.value.message) == ("ValueError", "no good")
    assert "Traceback" in e.value.remote_traceback


def test_pipelined_answers_come_back_in_order(echo: pit.BusConnection) -> None:
    ids = [echo.submit("echo", i) for i in range(200)]
    assert [echo.wait(i, timeout=10) for i in reversed(ids)] == list(reversed(range(200)))
    assert echo.pending == 0


def test_threads_share_one_connection(echo: pit.BusConnection) -> None:
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(300):
                assert echo.call("echo", [t, i]) == [t, i]
        except BaseException as e:  # collected for the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_timeout_cancels_and_the_late_answer_is_dropped(echo: pit.BusConnection) -> None:
    with pytest.raises(BusTimeout, match='call of "sleep": no answer after 50 ms'):
        echo.call("sleep", 0.3, timeout=0.05)
    assert echo.call("echo", "next") == "next"


def test_heartbeat_answers_while_a_call_runs(echo: pit.BusConnection) -> None:
    i = echo.submit("sleep", 0.5)
    time.sleep(0.1)
    t = time.perf_counter()
    assert echo.heartbeat(2.0) == {"busy": 1, "queued": 0}
    assert time.perf_counter() - t < 0.3
    assert echo.wait(i) == 0.5


def test_events_reach_the_host(echo: pit.BusConnection) -> None:
    echo.call("emit", 7)
    echo.call("emit", 8)
    assert echo.events(1.0) == [{"n": 7}, {"n": 8}]


def test_close_ends_waiting_calls_with_its_reason(echo: pit.BusConnection) -> None:
    i = echo.submit("sleep", 1.0)
    threading.Timer(0.1, echo.close, args=("the Stage is shutting down",)).start()
    with pytest.raises(BusClosed, match="the Stage is shutting down"):
        echo.wait(i)
    assert echo.closed is not None


def test_frame_codec_names_what_is_wrong() -> None:
    frame = pit.encode_frame(2, 7, ["f", {"x": 1}], {"trace": "t"}, priority=3, deadline_ms=9)
    assert pit.decode_frame(frame) == (2, 7, 3, 9, ["f", {"x": 1}], {"trace": "t"})
    with pytest.raises(FrameError, match=r"truncated frame: expected \d+ bytes"):
        pit.decode_frame(frame[:-1])
    with pytest.raises(FrameError, match="exceeds the limit of 100 bytes"):
        pit.decode_frame(struct.pack("<I", 1000) + b"\0" * 1000, max_frame=100)
    with pytest.raises(FrameError, match="unknown message type 9"):
        pit.decode_frame(frame[:6] + b"\x09" + frame[7:])
    with pytest.raises(FrameError, match="unknown message type 42"):
        pit.encode_frame(42, 1)


# -- a hostile extension, speaking raw bytes ------------------------------------


def raw_peer(path: Path, handshake: bytes | None) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(path))
    if handshake is not None:
        s.sendall(handshake)
    return s


HELLO = pit.encode_frame(1, 0, {"protocol": pit.BUS_PROTOCOL, "name": "raw"})


def test_major_version_mismatch_is_refused(tmp_path: Path) -> None:
    listener = pit.BusListener(tmp_path / "b.sock")
    peer = raw_peer(listener.path, pit.encode_frame(1, 0, {"protocol": "2.1"}))
    conn = listener.accept(5)
    with pytest.raises(ProtocolMismatch, match=r"host speaks 1.0, extension speaks 2.1"):
        conn.handshake(5)
    peer.close()


def test_oversized_frame_is_refused_before_allocation(tmp_path: Path) -> None:
    listener = pit.BusListener(tmp_path / "b.sock")
    peer = raw_peer(listener.path, HELLO)
    conn = listener.accept(5)
    conn.handshake(5)
    peer.sendall(struct.pack("<I", 3 << 30))  # 3 GiB announced, never sent
    with pytest.raises(FrameError, match="frame of 3221225472 bytes exceeds the limit"):
        conn.call("f", None, timeout=5)
    peer.close()


def test_truncated_frame_then_hang_up(tmp_path: Path) -> None:
    listener = pit.BusListener(tmp_path / "b.sock")
    peer = raw_peer(listener.path, HELLO)
    conn = listener.accept(5)
    conn.handshake(5)
    call = conn.submit("f")
    peer.recv(4096)  # closing with unread data would reset the connection instead
    peer.sendall(pit.encode_frame(3, call, "partial")[:-3])
    peer.close()
    with pytest.raises(FrameError, match="truncated frame"):
        conn.wait(call, timeout=5)


def test_listener_refuses_to_replace_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "not-a-socket").write_text("keep me")
    with pytest.raises(OSError, match="exists and is not a socket"):
        pit.BusListener(tmp_path / "not-a-socket")
    assert (tmp_path / "not-a-socket").read_text() == "keep me"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.booleans(),
    data=st.one_of(
        st.binary(max_size=300),
        # Well-formed prefixes with random bodies reach deeper into the decoder.
        st.binary(max_size=200).map(lambda b: struct.pack("<I", len(b)) + b),
        st.binary(max_size=200).map(lambda b: struct.pack("<I", len(b) + 2) + b"\x93\x94" + b),
    ),
)
def test_random_bytes_from_an_extension_never_hurt_the_host(
    tmp_path: Path, before: bool, data: bytes
) -> None:
    path = tmp_path / f"h{time.monotonic_ns()}.sock"
    listener = pit.BusListener(path)
    peer = raw_peer(path, None if before else HELLO)
    conn = listener.accept(5)
    try:
        if before:
            peer.sendall(data)
            peer.shutdown(socket.SHUT_WR)
            conn.handshake(1.0)
        else:
            conn.handshake(5)
            peer.sendall(data)
            peer.shutdown(socket.SHUT_WR)
            conn.call("f", None, timeout=1.0)
    except (BusError, ValueError):
        pass  # a clear error is the expected outcome; anything else fails the test
    finally:
        peer.close()
        conn.close()
        listener.close()


def test_a_timed_out_wait_can_wait_again(echo: pit.BusConnection) -> None:
    call = echo.submit("sleep", 0.3)
    with pytest.raises(BusTimeout):
        echo.wait(call, timeout=0.05)
    assert echo.wait(call, timeout=5) == 0.3
    with pytest.raises(CallCancelled, match=f"call {call} was cancelled, or its answer was"):
        echo.wait(call, timeout=1)


def test_huge_timeouts_mean_no_deadline(echo: pit.BusConnection) -> None:
    assert echo.call("echo", 1, timeout=1e17) == 1
    assert echo.wait(echo.submit("echo", 2, timeout=1e300)) == 2
    assert echo.heartbeat(1e20) == {"busy": 0, "queued": 0}
    with pytest.raises(ValueError, match="finite number of seconds"):
        echo.submit("echo", 3, timeout=float("inf"))


def test_non_utf8_strings_and_ext_values_decode(tmp_path: Path) -> None:
    listener = pit.BusListener(tmp_path / "b.sock")
    peer = raw_peer(listener.path, HELLO)
    conn = listener.accept(5)
    conn.handshake(5)
    call = conn.submit("f")
    peer.recv(4096)
    # [[3, id, 0, 0], [str "\xff", ext 5 b"ab"], {}] written by hand
    body = bytes([0x93, 0x94, 3, call, 0, 0, 0x92, 0xA1, 0xFF, 0xD5, 5]) + b"ab" + bytes([0x80])
    peer.sendall(struct.pack("<I", len(body)) + body)
    assert conn.wait(call, timeout=5) == ["\ufffd", (5, b"ab")]
    peer.close()
