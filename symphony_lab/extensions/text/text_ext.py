"""The ``text`` operator: regex transforms, splitting and joining.

Flags travel as names (``["IGNORECASE", "MULTILINE"]``) because the bus
carries plain data, not ``re`` constants; bad patterns and unknown flags are
reported as ValueErrors that quote the pattern, so the caller sees which of
its arguments was wrong rather than a bare ``re.error``.
"""

from __future__ import annotations

import re
from functools import reduce

from symphony_lab.sdk import operator

FLAGS: dict[str, re.RegexFlag] = {
    "IGNORECASE": re.IGNORECASE,
    "MULTILINE": re.MULTILINE,
    "DOTALL": re.DOTALL,
    "VERBOSE": re.VERBOSE,
    "ASCII": re.ASCII,
}


def _text(value: object, what: str = "text") -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    return value


def compile_pattern(pattern: str, flags: list[str] | None = None) -> re.Pattern[str]:
    """``pattern`` compiled with named ``flags``; errors quote both."""
    _text(pattern, "pattern")
    names = [f.upper() for f in flags or []]
    unknown = [n for n in names if n not in FLAGS]
    if unknown:
        raise ValueError(
            f"unknown regex flag(s) {', '.join(unknown)}; known: {', '.join(sorted(FLAGS))}"
        )
    combined = reduce(lambda a, b: a | b, (FLAGS[n] for n in names), re.RegexFlag(0))
    try:
        return re.compile(pattern, combined)
    except re.error as e:
        raise ValueError(f"invalid regex {pattern!r}: {e.msg} at position {e.pos}") from None


@operator
def transform(
    text: str, pattern: str, replacement: str, flags: list[str] | None = None, count: int = 0
) -> str:
    """``text`` with matches of ``pattern`` replaced (``\\1`` / ``\\g<name>``
    refer to groups); ``count`` > 0 limits the replacements."""
    _text(text)
    _text(replacement, "replacement")
    if count < 0:
        raise ValueError(f"count must be >= 0 (0 replaces all), got {count}")
    regex = compile_pattern(pattern, flags)
    try:
        return regex.sub(replacement, text, count=count)
    except re.error as e:  # a bad group reference in the replacement
        raise ValueError(f"invalid replacement {replacement!r}: {e.msg}") from None


@operator
def split(
    text: str,
    sep: str | None = None,
    regex: str | None = None,
    flags: list[str] | None = None,
    maxsplit: int = -1,
) -> list[str]:
    """Pieces of ``text``: on the literal ``sep``, on the pattern ``regex``,
    or on runs of whitespace when neither is given."""
    _text(text)
    if sep is not None and regex is not None:
        raise ValueError("give sep or regex, not both")
    if regex is not None:
        return compile_pattern(regex, flags).split(text, maxsplit=max(maxsplit, 0))
    if sep == "":
        raise ValueError("sep must not be empty (omit it to split on whitespace)")
    return text.split(sep, maxsplit)


@operator
def join(parts: list[str], sep: str = "") -> str:
    """``parts`` joined with ``sep``."""
    if not isinstance(parts, list):
        raise TypeError(f"parts must be a list of strings, got {type(parts).__name__}")
    bad = [i for i, p in enumerate(parts) if not isinstance(p, str)]
    if bad:
        raise TypeError(f"parts must be strings; item {bad[0]} is {type(parts[bad[0]]).__name__}")
    return _text(sep, "sep").join(parts)
