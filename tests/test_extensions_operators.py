"""The operators shipped with the package (files, text, tables, git), each in
its own process on one real Stage, on real files and a real git repository."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from symphony_lab.pit import ArtifactStore
from symphony_lab.stage import ExtensionCallError, Stage, builtin_manifests, load_manifest

OPERATORS = ["files", "text", "tables", "git"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return ArtifactStore(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def stage(store: ArtifactStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    # The tests' files live under pytest's temporary folder: the user grants it.
    here = [str(tmp_path_factory.getbasetemp())]
    grants = {name: {"read": here, "write": here} for name in ("files", "tables", "git")}
    with Stage(OPERATORS, store=store, call_timeout=30, grants=grants) as s:
        yield s


def call_error(stage: Stage, target: str, args: dict[str, Any]) -> ExtensionCallError:
    with pytest.raises(ExtensionCallError) as info:
        stage.call(target, args)
    return info.value


# -- manifests -----------------------------------------------------------------
def test_builtin_manifests_describe_every_function() -> None:
    manifests = {m.name: m for m in map(load_manifest, builtin_manifests())}
    assert set(manifests) >= {"files", "text", "tables", "git", "embed", "classifier", "llm"}
    for m in manifests.values():
        assert m.entry is not None
        assert (m.folder / f"{m.entry}.py").is_file()  # type: ignore[operator]
        assert m.conductor.triggers
        for f in m.functions:
            assert f.description, f"{m.name}.{f.name}"
            assert f.inputs, f"{m.name}.{f.name}"
            assert f.outputs, f"{m.name}.{f.name}"
    assert [n for n, m in manifests.items() if m.permissions.allows("network", "read")] == ["llm"]
    git = manifests["git"]
    assert git.permissions.allows("system", "execute")
    assert git.permissions.allows("file", "write")
    assert manifests["embed"].env["HF_HUB_OFFLINE"] == "1"


# -- files ---------------------------------------------------------------------
def test_files_read_text_bytes_and_artifact(
    stage: Stage, store: ArtifactStore, tmp_path: Path
) -> None:
    (tmp_path / "note.txt").write_text("héllo\nworld\n", encoding="utf-8")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    assert stage.call("files.read", {"path": str(tmp_path / "note.txt")}) == "héllo\nworld\n"
    assert stage.call("files.read", {"path": str(tmp_path / "blob.bin"), "binary": True}) == bytes(
        range(256)
    )
    digest = stage.call("files.read", {"path": str(tmp_path / "blob.bin"), "as_artifact": True})
    assert store.get_by_hash(digest) == bytes(range(256))
    info = store.info(digest)
    assert (info["kind"], info["producer"]) == ("file", "files")


def test_files_large_file_goes_through_the_store(
    stage: Stage, store: ArtifactStore, tmp_path: Path
) -> None:
    big = tmp_path / "big.log"
    big.write_bytes(b"line\n" * (2 << 20))  # 10 MiB: more than a result may carry inline
    err = call_error(stage, "files.read", {"path": str(big)})
    assert err.remote_type == "ValueError"
    assert f"{big}: 10485760 bytes is too large" in str(err)
    assert "as_artifact=true" in str(err)
    digest = stage.call("files.read", {"path": str(big), "as_artifact": True})
    assert store.info(digest)["size"] == 10 << 20
    copy = tmp_path / "copy.log"
    stage.call("files.write", {"path": str(copy), "artifact": digest})
    assert copy.read_bytes() == big.read_bytes()


def test_files_write_text_bytes_and_artifact(
    stage: Stage, store: ArtifactStore, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    assert stage.call("files.write", {"path": str(target), "text": "one"}) == str(target)
    assert target.read_text() == "one"
    stage.call("files.write", {"path": str(target), "data": b"\x00\x01"})
    assert target.read_bytes() == b"\x00\x01"
    digest = store.put_blob(b"from the store", kind="file")
    nested = tmp_path / "a" / "b" / "c.txt"
    stage.call("files.write", {"path": str(nested), "artifact": digest, "make_dirs": True})
    assert nested.read_bytes() == b"from the store"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "out.txt"]  # no temp files left


def test_files_glob_is_sorted_and_confined(stage: Stage, tmp_path: Path) -> None:
    for rel in ["b.py", "a.py", "pkg/c.py", "pkg/d.txt"]:
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text("x")
    found = stage.call("files.glob", {"pattern": "**/*.py", "root": str(tmp_path)})
    assert found == [str(tmp_path / p) for p in ["a.py", "b.py", "pkg/c.py"]]
    everything = stage.call("files.glob", {"pattern": "*", "root": str(tmp_path)})
    assert everything == [str(tmp_path / p) for p in ["a.py", "b.py", "pkg"]]
    files = stage.call("files.glob", {"pattern": "*", "root": str(tmp_path), "files_only": True})
    assert files == [str(tmp_path / p) for p in ["a.py", "b.py"]]
    err = call_error(stage, "files.glob", {"pattern": "../*", "root": str(tmp_path)})
    assert err.remote_type == "ValueError"
    assert "'..'" in str(err)


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("read", {"path": "notes/today.txt"}),
        ("write", {"path": "notes/today.txt", "text": "x"}),
        ("glob", {"pattern": "*", "root": "notes/today.txt"}),
    ],
)
def test_files_refuse_relative_paths(stage: Stage, function: str, args: dict[str, Any]) -> None:
    err = call_error(stage, f"files.{function}", args)
    assert err.remote_type == "ValueError"
    assert "absolute path" in str(err)
    assert "'notes/today.txt'" in str(err)


def test_files_errors_name_the_path(stage: Stage, tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    err = call_error(stage, "files.read", {"path": str(missing)})
    assert err.remote_type == "FileNotFoundError"
    assert str(missing) in str(err)
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    err = call_error(stage, "files.read", {"path": str(tmp_path / "latin1.txt")})
    assert err.remote_type == "ValueError"
    assert "not valid utf-8" in str(err)
    assert "binary=true" in str(err)
    err = call_error(stage, "files.write", {"path": str(tmp_path / "x"), "text": "a", "data": b""})
    assert "exactly one of text, data or artifact (got text, data)" in str(err)
    err = call_error(stage, "files.write", {"path": str(tmp_path / "no" / "x"), "text": "a"})
    assert err.remote_type == "FileNotFoundError"
    assert "make_dirs=true" in str(err)


# -- text ----------------------------------------------------------------------
def test_text_transform_with_flags_groups_and_count(stage: Stage) -> None:
    args = {"text": "Cat cat CAT", "pattern": "cat", "replacement": "dog"}
    assert stage.call("text.transform", args) == "Cat dog CAT"
    assert stage.call("text.transform", {**args, "flags": ["IGNORECASE"]}) == "dog dog dog"
    assert stage.call("text.transform", {**args, "flags": ["ignorecase"], "count": 2}) == (
        "dog dog CAT"
    )
    swapped = stage.call(
        "text.transform",
        {"text": "2024-05-17", "pattern": r"(\d+)-(\d+)-(\d+)", "replacement": r"\3/\2/\1"},
    )
    assert swapped == "17/05/2024"
    multiline = {"text": "a\nb", "pattern": "^", "replacement": "> ", "flags": ["MULTILINE"]}
    assert stage.call("text.transform", multiline) == "> a\n> b"


def test_text_split_and_join(stage: Stage) -> None:
    assert stage.call("text.split", {"text": "a,b,,c", "sep": ","}) == ["a", "b", "", "c"]
    assert stage.call("text.split", {"text": "a1b22c", "regex": r"\d+"}) == ["a", "b", "c"]
    assert stage.call("text.split", {"text": " a \t b\n"}) == ["a", "b"]
    assert stage.call("text.split", {"text": "a,b,c", "sep": ",", "maxsplit": 1}) == ["a", "b,c"]
    assert stage.call("text.join", {"parts": ["a", "b", "c"], "sep": "-"}) == "a-b-c"
    parts = stage.call("text.split", {"text": "x y z"})
    assert stage.call("text.join", {"parts": parts, "sep": " "}) == "x y z"


def test_text_bad_input_is_named(stage: Stage) -> None:
    err = call_error(stage, "text.transform", {"text": "a", "pattern": "(", "replacement": ""})
    assert err.remote_type == "ValueError"
    assert "invalid regex '('" in str(err)
    err = call_error(
        stage, "text.transform", {"text": "a", "pattern": "a", "replacement": "", "flags": ["X1"]}
    )
    assert "unknown regex flag(s) X1" in str(err)
    err = call_error(stage, "text.join", {"parts": ["a", 3]})
    assert err.remote_type == "TypeError"
    assert "item 1 is int" in str(err)
    err = call_error(stage, "text.split", {"text": "a", "sep": ",", "regex": ","})
    assert "sep or regex, not both" in str(err)


# -- tables --------------------------------------------------------------------
CITIES = pd.DataFrame(
    {
        "city": ["Lyon", "Lyon", "Nice", "Nice", "Paris"],
        "year": [2020, 2021, 2020, 2021, 2021],
        "people": [513, 522, 342, 348, 2133],
    }
)


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    path = tmp_path / "cities.csv"
    CITIES.to_csv(path, index=False)
    return path


def stored_table(store: ArtifactStore, digest: str) -> pd.DataFrame:
    import io

    return pd.read_parquet(io.BytesIO(store.get_by_hash(digest)))


def test_tables_load_csv_and_parquet(
    stage: Stage, store: ArtifactStore, csv_path: Path, tmp_path: Path
) -> None:
    loaded = stage.call("tables.load", {"path": str(csv_path)})
    assert loaded["rows"] == 5
    assert loaded["columns"] == ["city", "year", "people"]
    pd.testing.assert_frame_equal(stored_table(store, loaded["hash"]), CITIES)
    info = store.info(loaded["hash"])
    assert (info["kind"], info["producer"]) == ("table", "tables")
    parquet = tmp_path / "cities.parquet"
    CITIES.to_parquet(parquet, index=False)
    from_parquet = stage.call("tables.load", {"path": str(parquet)})
    assert (from_parquet["rows"], from_parquet["columns"]) == (5, loaded["columns"])
    pd.testing.assert_frame_equal(stored_table(store, from_parquet["hash"]), CITIES)


def test_tables_filter_and_aggregate_keep_lineage(
    stage: Stage, store: ArtifactStore, csv_path: Path
) -> None:
    loaded = stage.call("tables.load", {"path": str(csv_path)})["hash"]
    recent = stage.call("tables.filter", {"table": loaded, "query": "year == 2021"})
    assert recent["rows"] == 3
    assert store.lineage(recent["hash"]) == [(recent["hash"], loaded)]
    totals = stage.call(
        "tables.aggregate",
        {"table": loaded, "group_by": ["city"], "aggregations": {"people": "sum", "year": "max"}},
    )
    assert totals["columns"] == ["city", "people", "year"]
    assert stage.call("tables.head", {"table": totals["hash"]}) == [
        {"city": "Lyon", "people": 1035, "year": 2021},
        {"city": "Nice", "people": 690, "year": 2021},
        {"city": "Paris", "people": 2133, "year": 2021},
    ]
    big = stage.call("tables.filter", {"table": totals["hash"], "query": "people > 1000"})
    assert stored_table(store, big["hash"])["city"].tolist() == ["Lyon", "Paris"]
    assert store.lineage(big["hash"]) == [(big["hash"], totals["hash"]), (totals["hash"], loaded)]


def test_tables_chain_in_a_melody(stage: Stage, store: ArtifactStore, csv_path: Path) -> None:
    from symphony_lab.stage import Melody

    m = Melody()
    m.step("loaded", "tables.load", path="$csv")
    m.step("recent", "tables.filter", table="$loaded", query="year == 2021")
    m.step("rows", "tables.head", table="$recent", n=2)
    perf = stage.play(m, {"csv": str(csv_path)})
    assert [s.status for s in perf.steps] == ["done", "done", "done"]
    assert [r["year"] for r in perf.value("rows")] == [2021, 2021]
    recent = perf.value("recent")["hash"]
    assert store.lineage(recent)[0] == (recent, perf.value("loaded")["hash"])


def test_tables_errors_name_the_column(
    stage: Stage, store: ArtifactStore, csv_path: Path, tmp_path: Path
) -> None:
    loaded = stage.call("tables.load", {"path": str(csv_path)})["hash"]
    err = call_error(stage, "tables.filter", {"table": loaded, "query": "population > 3"})
    assert err.remote_type == "UnknownColumn"
    assert "'population'" in str(err)
    assert "city, year, people" in str(err)
    err = call_error(
        stage,
        "tables.aggregate",
        {"table": loaded, "group_by": ["country"], "aggregations": {"people": "sum"}},
    )
    assert err.remote_type == "UnknownColumn"
    assert "no column 'country'" in str(err)
    err = call_error(
        stage,
        "tables.aggregate",
        {"table": loaded, "group_by": ["city"], "aggregations": {"people": "average"}},
    )
    assert err.remote_type == "ValueError"
    assert "average" in str(err)
    err = call_error(stage, "tables.filter", {"table": loaded, "query": "year =="})
    assert err.remote_type == "ValueError"
    not_a_table = store.put_blob(b"just bytes", kind="blob")
    err = call_error(stage, "tables.head", {"table": not_a_table})
    assert f"artifact {not_a_table} is not a Parquet table" in str(err)
    err = call_error(stage, "tables.head", {"table": "0" * 64})
    assert err.remote_type == "UnknownArtifact"
    (tmp_path / "data.xlsx").write_bytes(b"")
    err = call_error(stage, "tables.load", {"path": str(tmp_path / "data.xlsx")})
    assert "cannot tell the table format" in str(err)


# -- git -----------------------------------------------------------------------
IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def run_git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *IDENTITY, *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    run_git(path, "init", "--quiet", "-b", "main")
    (path / "a.txt").write_text("old\n")
    (path / "b.txt").write_text("keep\n")
    run_git(path, "add", "a.txt", "b.txt")
    run_git(path, "commit", "--quiet", "-m", "first")
    return path


def test_git_status(stage: Stage, repo: Path) -> None:
    status = stage.call("git.status", {"repo": str(repo)})
    assert status["root"] == str(repo)
    assert status["branch"] == "main"
    assert status["commit"] == run_git(repo, "rev-parse", "HEAD").strip()
    assert status["clean"] is True
    (repo / "a.txt").write_text("new\n")
    (repo / "b.txt").write_text("staged\n")
    run_git(repo, "add", "b.txt")
    (repo / "sub").mkdir()
    (repo / "sub" / "c.txt").write_text("untracked\n")
    status = stage.call("git.status", {"repo": str(repo / "sub")})
    assert status["clean"] is False
    assert status["unstaged"] == ["a.txt"]
    assert status["staged"] == ["b.txt"]
    assert status["untracked"] == ["sub/c.txt"]
    assert status["conflicted"] == []


def test_git_diff(stage: Stage, store: ArtifactStore, repo: Path) -> None:
    assert stage.call("git.diff", {"repo": str(repo)}) == ""
    (repo / "a.txt").write_text("new\n")
    diff = stage.call("git.diff", {"repo": str(repo)})
    assert "--- a/a.txt" in diff
    assert "-old\n+new\n" in diff
    assert stage.call("git.diff", {"repo": str(repo), "staged": True}) == ""
    run_git(repo, "add", "a.txt")
    assert "-old\n+new\n" in stage.call("git.diff", {"repo": str(repo), "staged": True})
    digest = stage.call("git.diff", {"repo": str(repo), "ref": "HEAD", "as_artifact": True})
    assert store.get_by_hash(digest).decode() == diff
    assert store.info(digest)["kind"] == "diff"


def test_git_commit(stage: Stage, repo: Path) -> None:
    (repo / "a.txt").write_text("new\n")
    (repo / "d.txt").write_text("added\n")
    author = {"author_name": "Stage Bot", "author_email": "bot@example.com"}
    done = stage.call(
        "git.commit",
        {
            "repo": str(repo),
            "message": "second\n\nwith a body",
            "paths": ["a.txt", "d.txt"],
            **author,
        },
    )
    assert done["commit"] == run_git(repo, "rev-parse", "HEAD").strip()
    assert (done["branch"], done["summary"]) == ("main", "second")
    assert run_git(repo, "log", "-1", "--format=%an <%ae>|%s").strip() == (
        "Stage Bot <bot@example.com>|second"
    )
    assert stage.call("git.status", {"repo": str(repo)})["clean"] is True
    err = call_error(stage, "git.commit", {"repo": str(repo), "message": "again", **author})
    assert err.remote_type == "GitError"
    assert f"nothing to commit in {repo}" in str(err)


def test_git_bad_repositories(stage: Stage, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    err = call_error(stage, "git.status", {"repo": str(plain)})
    assert err.remote_type == "NotARepository"
    assert f"{plain} is not inside a git repository" in str(err)
    err = call_error(stage, "git.diff", {"repo": "relative/repo"})
    assert err.remote_type == "ValueError"
    assert "absolute path" in str(err)
    err = call_error(stage, "git.commit", {"repo": str(tmp_path / "nope"), "message": "m"})
    assert err.remote_type == "FileNotFoundError"
    assert str(tmp_path / "nope") in str(err)
