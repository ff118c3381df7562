"""The .pyi stubs describe exactly what the compiled module offers."""

import ast
from pathlib import Path

import symphony_lab
from symphony_lab import _pit

STUB = Path(symphony_lab.__file__).with_name("_pit.pyi")


def stub_members() -> dict[str, set[str]]:
    tree = ast.parse(STUB.read_text())
    classes = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = {
                item.name for item in node.body if isinstance(item, ast.FunctionDef)
            } - {"__init__"}
    return classes


def test_stub_methods_match_the_compiled_classes() -> None:
    for name, methods in stub_members().items():
        runtime = {m for m in dir(getattr(_pit, name)) if not m.startswith("_")}
        underscored = {m for m in methods if m.startswith("_")}
        assert methods - underscored == runtime, name
        assert all(hasattr(getattr(_pit, name), m) for m in underscored), name


def test_typed_marker_ships_beside_the_stubs() -> None:
    assert STUB.exists()
    assert STUB.with_name("py.typed").exists()
