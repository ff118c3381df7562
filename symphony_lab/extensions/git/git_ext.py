"""The ``git`` operator: status, diff and commit through the ``git`` command line.

The CLI rather than a library: it is what users have, it reads their repo's
own config and hooks, and its porcelain formats are stable for parsing.
Errors carry git's exit status and message; a folder outside any repository
is a :class:`NotARepository`, not a generic failure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from symphony_lab.sdk import Context, operator

TIMEOUT_S = 60.0
MAX_INLINE_CHARS = 8 << 20


class NotARepository(ValueError):
    """The path is not inside a git working tree."""


class GitError(RuntimeError):
    """A git command failed; the message holds the command, its exit status and its output."""


def _env() -> dict[str, str]:
    # Never wait for a password or an editor; messages in English for the errors we match.
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true", "LC_ALL": "C"}


def git(root: Path, *args: str, config: dict[str, str] | None = None) -> str:
    """Runs ``git -C root [-c k=v ...] args`` and returns its stdout, or raises GitError."""
    pre = [x for k, v in (config or {}).items() for x in ("-c", f"{k}={v}")]
    cmd = ["git", "-C", str(root), *pre, *args]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=_env(), timeout=TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise GitError("the git command is not installed (not found on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args)} in {root} took longer than {TIMEOUT_S} s") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
        raise GitError(
            f"git {' '.join(args)} in {root} failed (exit status {done.returncode}): "
            + " / ".join(said[-5:])
        )
    return done.stdout


def repository(path: str) -> Path:
    """The top folder of the working tree holding ``path`` (absolute)."""
    if not isinstance(path, str) or not path:
        raise TypeError(f"repo must be a non-empty string, got {type(path).__name__}")
    p = Path(path)
    if not p.is_absolute():
        raise ValueError(f"repo must be an absolute path, got the relative path {path!r}")
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such folder")
    if not p.is_dir():
        raise NotADirectoryError(f"{p}: not a folder")
    try:
        top = git(p, "rev-parse", "--show-toplevel").strip()
    except GitError as e:
        if "not a git repository" in str(e):
            raise NotARepository(f"{p} is not inside a git repository") from None
        raise
    return Path(top)


def _parse_status(out: str) -> dict[str, Any]:
    """Reads ``git status --porcelain=v2 --branch -z``."""
    info: dict[str, Any] = {
        "branch": None,
        "commit": None,
        "staged": [],
        "unstaged": [],
        "untracked": [],
        "conflicted": [],
    }
    records = iter(out.split("\0"))
    for rec in records:
        if rec.startswith("# branch.oid "):
            oid = rec.split()[2]
            info["commit"] = None if oid == "(initial)" else oid
        elif rec.startswith("# branch.head "):
            head = rec.split(maxsplit=2)[2]
            info["branch"] = None if head == "(detached)" else head
        elif rec.startswith(("1 ", "2 ")):
            fields = rec.split(" ", 9 if rec[0] == "2" else 8)
            xy, path = fields[1], fields[-1]
            if rec[0] == "2":
                next(records, None)  # the original path of a rename or copy
            if xy[0] != ".":
                info["staged"].append(path)
            if xy[1] != ".":
                info["unstaged"].append(path)
        elif rec.startswith("u "):
            info["conflicted"].append(rec.split(" ", 10)[-1])
        elif rec.startswith("? "):
            info["untracked"].append(rec[2:])
    lists = ("staged", "unstaged", "untracked", "conflicted")
    info["clean"] = not any(info[k] for k in lists)
    return info


@operator
def status(repo: str) -> dict[str, Any]:
    """The working tree's state: ``{root, branch, commit, clean, staged,
    unstaged, untracked, conflicted}`` (paths relative to the root)."""
    root = repository(repo)
    out = git(root, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all")
    return {"root": str(root), **_parse_status(out)}


@operator
def diff(
    repo: str,
    staged: bool = False,
    ref: str | None = None,
    paths: list[str] | None = None,
    as_artifact: bool = False,
    *,
    ctx: Context,
) -> str:
    """The unified diff of the working tree (``staged``: of the index) against
    ``ref`` or the index/HEAD; with ``as_artifact``, its hash in the store."""
    root = repository(repo)
    args = ["diff", "--no-color", "--no-ext-diff"]
    if staged:
        args.append("--cached")
    if ref is not None:
        if ref.startswith("-"):
            raise ValueError(f"ref must name a commit, not an option: {ref!r}")
        args.append(ref)
    out = git(root, *args, "--", *(paths or []))
    if as_artifact:
        return ctx.put(out.encode(), kind="diff", media_type="text/x-diff")
    if len(out) > MAX_INLINE_CHARS:
        raise ValueError(
            f"the diff of {root} is {len(out)} characters, too large to return inline; "
            "ask with as_artifact=true"
        )
    return out


@operator
def commit(
    repo: str,
    message: str,
    paths: list[str] | None = None,
    add_all: bool = False,
    allow_empty: bool = False,
    author_name: str | None = None,
    author_email: str | None = None,
) -> dict[str, Any]:
    """Stages ``paths`` (or everything with ``add_all``), commits with
    ``message`` and returns ``{commit, branch, summary}``. The author falls
    back to the repository's git config."""
    root = repository(repo)
    if not isinstance(message, str) or not message.strip():
        raise ValueError("message must be a non-empty string")
    if paths:
        git(root, "add", "--", *paths)
    if add_all:
        git(root, "add", "--all")
    identity: dict[str, str] = {}
    if author_name:
        identity["user.name"] = author_name
    if author_email:
        identity["user.email"] = author_email
    args = ["commit", "--quiet", "-m", message]
    if allow_empty:
        args.append("--allow-empty")
    try:
        git(root, *args, config=identity)
    except GitError as e:
        if "nothing to commit" in str(e) or "no changes added to commit" in str(e):
            raise GitError(
                f"nothing to commit in {root}: stage files with paths=[...] or add_all=true"
            ) from None
        if "unable to auto-detect email" in str(e) or "identity unknown" in str(e):
            raise GitError(
                f"no author identity for a commit in {root}: pass author_name and "
                "author_email, or set user.name and user.email in the repository's config"
            ) from None
        raise
    head = git(root, "rev-parse", "HEAD").strip()
    branch = git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
    return {"commit": head, "branch": branch, "summary": message.strip().splitlines()[0]}
