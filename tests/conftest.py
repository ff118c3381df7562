"""Fixtures shared by the Stage's tests: extensions written on the fly."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

MakeExtension = Callable[..., Path]


def write_extension(
    root: Path, name: str, code: str, functions: list[str] | None = None, toml_extra: str = ""
) -> Path:
    """Writes a Python extension (manifest + module ``<name>_ext``) under
    ``root`` and returns its folder."""
    folder = root / name
    folder.mkdir()
    module = f"{name.replace('-', '_')}_ext"
    (folder / f"{module}.py").write_text(textwrap.dedent(code))
    fns = "".join(f'\n[[functions]]\nname = "{f}"\n' for f in functions or [])
    (folder / "symphony.toml").write_text(
        f'name = "{name}"\nversion = "0.1.0"\nkind = "operator"\nentry = "{module}"\n'
        f"{fns}\n{textwrap.dedent(toml_extra)}"
    )
    return folder


@pytest.fixture
def make_extension(tmp_path: Path) -> MakeExtension:
    """``make_extension(name, code, functions=[...], toml_extra="")`` writes a
    Python extension (manifest + module ``<name>_ext``) and returns its folder."""

    def make(
        name: str, code: str, functions: list[str] | None = None, toml_extra: str = ""
    ) -> Path:
        return write_extension(tmp_path, name, code, functions, toml_extra)

    return make
