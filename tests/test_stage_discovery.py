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
    # A broken entry point is named and left out; it hides no other extension.
    with pytest.warns(RuntimeWarning, match=r"ghost = 'no_such_module' of broken-ext"):
        assert set(installed()) >= SHIPPED
    with pytest.raises(ManifestError, match="no module 'no_such_module' is installed"):
        Stage(["ghost"])
    monkeypatch.undo()
    with pytest.raises(ManifestError, match=r"no extension 'nothing' is installed.*text"):
        Stage(["nothing"])
    other = tmp_path / "other"
    install(other, "empty-ext", {"hollow": "hollow_pkg"}, {"hollow_pkg": ""})
    monkeypatch.syspath_prepend(str(other))
    with pytest.raises(ManifestError, match=r"holds no symphony\.toml"):
        Stage(["hollow"])
    monkeypatch.undo()
    liar = tmp_path / "liar"
    install(liar, "liar-ext", {"whisper": "whisper_pkg"}, {"whisper_pkg": SHOUT})
    monkeypatch.syspath_prepend(str(liar))
    with pytest.raises(ManifestError, match="installed as 'whisper' calls itself 'shout'"):
        Stage(["whisper"])


def test_an_extension_whose_requirements_are_missing_is_refused_by_name(
    make_extension: Callable[..., Path],
) -> None:
    folder = make_extension(
        "needy",
        "from symphony_lab.sdk import operator\n\n@operator\ndef f():\n    return 1\n",
        toml_extra='requires = ["no-such-dist>=1", "packaging>=1"]\n',
    )
    assert load_manifest(folder).missing() == ["no-such-dist>=1"]
    with pytest.raises(ManifestError, match="needs no-such-dist>=1: pip install 'no-such-dist>=1'"):
        Stage([folder])
    (folder / "symphony.toml").write_text(
        (folder / "symphony.toml").read_text().replace('"packaging>=1"', '"packaging>=99"')
    )
    assert "packaging>=99 (installed:" in load_manifest(folder).missing()[1]
    bad = folder / "symphony.toml"
    bad.write_text(bad.read_text().replace('"no-such-dist>=1"', '"not a requirement!"'))
    with pytest.raises(ManifestError, match="field 'requires'"):
        load_manifest(folder)


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
