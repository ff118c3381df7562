"""Every decoder of outside bytes under a short mutation-fuzzing run, and the
inputs fuzzing found, kept as regression tests (``./lab bench fuzz`` runs a
million inputs per decoder)."""

from __future__ import annotations

import gzip
import resource
import zlib
from collections.abc import Callable

import pytest
from function_quest.packs import PackError, parse_pack

from symphony_lab.kit.errors import PackageError
from symphony_lab.kit.package import read_info
from symphony_lab.pit import FrameError, decode_frame
from tests.fuzzing import TARGETS, run

INPUTS = 1500


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_short_fuzzing_run_finds_nothing(name: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = run(TARGETS[name](), INPUTS, seed=1)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert not report.findings, [f.error for f in report.findings[:5]]
    assert report.inputs == INPUTS
    # The mutations reach past the first check: some inputs are accepted.
    assert report.accepted > 0, report
    assert grown_mib < 256, f"{name}: peak memory grew by {grown_mib:.0f} MiB"


def test_a_msgpack_map_with_a_list_as_key_is_a_frame_error() -> None:
    # [[request, id 7, priority 0, no deadline], {[1]: 2}, nil]
    body = bytes([0x93, 0x94, 0x01, 0x07, 0x00, 0x00, 0x81, 0x91, 0x01, 0x02, 0xC0])
    with pytest.raises(FrameError, match="a msgpack map has a list as a key"):
        decode_frame(len(body).to_bytes(4, "little") + body)


def _first(damaged: Callable[[bytes], bool], good: bytes) -> bytes:
    """The first single-byte change of ``good`` for which ``damaged`` holds."""
    for i in range(len(good)):
        for value in (0x00, 0xFF, good[i] ^ 0x01, good[i] ^ 0x80):
            data = good[:i] + bytes([value]) + good[i + 1 :]
            if damaged(data):
                return data
    raise AssertionError("no such change")


def _raises(fn: Callable[[], object], kind: type[BaseException]) -> bool:
    try:
        fn()
    except kind:
        return True
    except Exception:
        return False
    return False


def test_a_damaged_deflate_stream_is_a_pack_error() -> None:
    good = gzip.compress(b'[[levels]]\nid = "x"\n' * 200, mtime=0)
    bad = _first(lambda d: _raises(lambda: gzip.decompress(d), zlib.error), good)
    with pytest.raises(PackError, match="cannot be read"):
        parse_pack(bad)


def test_a_package_cut_inside_the_gzip_header_is_a_package_error() -> None:
    # tarfile's stream reader raises TypeError (ord() of nothing) here.
    with pytest.raises(PackageError, match="not a readable package"):
        read_info(b"\x1f\x8b\x08")
