"""Extensions are found through the ``symphony_lab.extensions`` entry points,
the shipped ones and any installed package's alike; and the Stage reaches
them through its backend seam, which another backend can take over."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from symphony_lab.sdk import ManifestError, load_manifest
from symphony_lab.sdk.manifest import Manifest
from symphony_lab.stage import (
    ExtensionProcess,
    HostOptions,
    Stage,
    builtin_manifests,
    installed,
)

SHIPPED = {"classifier", "embed", "files", "git", "llm", "tables", "text"}


def install(site: Path, dist: str, entry_points: dict[str, str], packages: dict[str, str]) -> None:
    """A real installed distribution: packages on ``site`` beside their
    ``.dist-info`` (what pip writes), found by importlib.metadata."""
    for package, manifest in packages.items():
        folder = site / package
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        if manifest:
            (folder / "symphony.toml").write_text(textwrap.dedent(manifest))
            (folder / "shout_ext.py").write_text(
                "from symphony_lab.sdk import operator\n\n"
                "@operator\ndef shout(text):\n    return text.upper() + '!'\n"
            )
    info = site / f"{dist}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[symphony_lab.extensions]\n{lines}")


SHOUT = """
    name = "shout"
    version = "0.1.0"
    kind = "operator"
    entry = "shout_ext"

    [[functions]]
    name = "shout"
    inputs = { text = "text" }
    outputs = ["loud"]
"""


def test_the_shipped_extensions_are_found_through_entry_points() -> None:
    found = installed()
    assert set(found) >= SHIPPED
    assert {found[n].distribution for n in SHIPPED} == {"symphony-lab"}
    assert {load_manifest(f).name for f in builtin_manifests()} == SHIPPED
    for name in SHIPPED:
        assert load_manifest(found[name].folder).name == name


def test_a_pip_installed_extension_is_found_by_name_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    install(site, "shout-ext", {"shout": "shout_pkg"}, {"shout_pkg": SHOUT})
    monkeypatch.syspath_prepend(str(site))
    found = installed()
    assert found["shout"].distribution == "shout-ext"
    assert found["shout"].folder == site / "shout_pkg"
    with Stage(["shout", "text"], store=tmp_path / "store") as stage:
        assert stage.call("shout.shout", {"text": "hi"}) == "HI!"
        perf = stage.perform("loud", {"text": "quiet"})
        assert perf.value("loud") == "QUIET!"


def test_bad_entry_points_and_names_get_errors_that_say_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    install(site, "broken-ext", {"ghost": "no_such_module"}, {})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ManifestError, match=r"ghost = 'no_such_module' of broken-ext"):
        installed()
    monkeypatch.undo()
    with pytest.raises(ManifestError, match=r"no extension 'nothing' is installed.*text"):
        Stage(["nothing"])
    other = tmp_path / "other"
    install(other, "empty-ext", {"hollow": "hollow_pkg"}, {"hollow_pkg": ""})
    monkeypatch.syspath_prepend(str(other))
    with pytest.raises(ManifestError, match=r"holds no symphony\.toml"):
        installed()
    monkeypatch.undo()
    liar = tmp_path / "liar"
    install(liar, "liar-ext", {"whisper": "whisper_pkg"}, {"whisper_pkg": SHOUT})
    monkeypatch.syspath_prepend(str(liar))
    with pytest.raises(ManifestError, match="installed as 'whisper' calls itself 'shout'"):
        Stage(["whisper"])


class Counting:
    """Another backend: the local process, with every call counted; what a
    Ray actor will be, the Stage uses through the same protocol."""

    def __init__(self, manifest: Manifest, options: HostOptions) -> None:
        self.inner = ExtensionProcess(manifest, options)
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def call(self, function: str, args: Any = None, **kw: Any) -> Any:
        self.calls.append(function)
        return self.inner.call(function, args, **kw)


def test_another_backend_hosts_the_extensions_and_runs_goals_and_melodies(
    make_extension: Callable[..., Path], tmp_path: Path
) -> None:
    folder = make_extension(
        "upper",
        "from symphony_lab.sdk import operator\n\n@operator\ndef up(text):\n"
        "    return text.upper()\n",
        toml_extra='[[functions]]\nname = "up"\ninputs = { text = "text" }\noutputs = ["upper"]\n',
    )
    with Stage([folder], store=tmp_path / "store", backend=Counting) as stage:
        backend = stage["upper"]
        assert isinstance(backend, Counting)
        assert stage.perform("upper", {"text": "a"}).value("upper") == "A"
        assert backend.calls == ["up"]
        assert backend.state == "healthy"
