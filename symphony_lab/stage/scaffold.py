"""``symphony ext new``: a working extension, with a test, to start from."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Literal

from symphony_lab.sdk.manifest import load_manifest

Kind = Literal["operator", "instrument", "motif"]

_MODULES: dict[str, str] = {
    "operator": '''
        """{name}: an operator of the Stage (plain code, no model)."""

        from symphony_lab.sdk import operator


        @operator
        def shout(text: str, times: int = 1) -> str:
            """The text in capitals, repeated ``times`` times."""
            return " ".join([text.upper()] * times)


        @shout.validate_input
        def _check(args: dict) -> None:
            if not isinstance(args.get("text"), str):
                raise ValueError("'text' must be a string")
        ''',
    "instrument": '''
        """{name}: an instrument of the Stage (a model behind a function)."""

        from typing import Any

        from symphony_lab.sdk import instrument

        _model: dict[str, Any] = {{}}


        @instrument
        def score(text: str) -> float:
            """A stand-in model: the share of the text's words found in the vocabulary."""
            words = text.lower().split()
            return sum(w in _model["vocabulary"] for w in words) / max(len(words), 1)


        @score.configure
        def _load(config: dict[str, Any]) -> None:
            # Load weights here: it runs once per process, before any call.
            _model["vocabulary"] = set(config.get("vocabulary", ["good", "great", "fine"]))


        @score.health_check
        def _healthy() -> bool:
            return "vocabulary" in _model
        ''',
    "motif": '''
        """{name}: a motif of the Stage (a view, rendered live in a MotifView)."""

        from typing import Any

        from symphony_lab.sdk import motif
        from symphony_lab.sdk.ui import h


        @motif
        def render(state: dict[str, Any]) -> dict[str, Any]:
            """The page for ``state``: a count and a button that adds one."""
            return h(
                "div",
                {{}},
                h("span", {{}}, f"count: {{state.get('count', 0)}}"),
                h("button", {{"label": "+1"}}, on={{"click": "increment"}}),
            )


        @motif
        def increment(state: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
            """The click handler: the next state (the view renders it again)."""
            return {{**state, "count": state.get("count", 0) + event.get("step", 1)}}
        ''',
}

_FUNCTIONS = {
    "operator": """
        [[functions]]
        name = "shout"
        description = "The text in capitals, repeated."
        inputs = {{ text = "text" }}
        outputs = ["text"]
        deterministic = true
        cost = 1.0
        latency_ms = 1
        """,
    "instrument": """
        [[functions]]
        name = "score"
        description = "Share of the text's words in the vocabulary."
        inputs = {{ text = "text" }}
        outputs = ["score"]
        deterministic = true
        cost = 2.0
        latency_ms = 5
        """,
    "motif": """
        [[functions]]
        name = "render"
        description = "The page for a state."

        [[functions]]
        name = "increment"
        description = "Adds one to the count."
        """,
}

_TEST = '''
    """Tests of {name}: the function itself, then through a real Stage."""

    from pathlib import Path

    from symphony_lab.stage import Stage

    import {module}

    HERE = Path(__file__).parent


    def test_function_directly() -> None:
    {direct}


    def test_through_the_stage() -> None:
        with Stage([HERE]) as stage:
    {staged}
    '''

_CHECKS = {
    "operator": (
        '    assert {module}.shout("hi", times=2) == "HI HI"',
        '        assert stage.call("{name}.shout", {{"text": "hi"}}) == "HI"',
    ),
    "instrument": (
        '    {module}._load({{"vocabulary": ["a"]}})\n    assert {module}.score("a b") == 0.5',
        '        assert stage.call("{name}.score", {{"text": "good day"}}) == 0.5',
    ),
    "motif": (
        '    assert {module}.increment({{"count": 1}}, {{}}) == {{"count": 2}}',
        '        page = stage.call("{name}.render", {{"state": {{"count": 3}}}})\n'
        '        assert page["children"][0]["children"] == ["count: 3"]\n'
        '        args = {{"state": {{"count": 3}}, "event": {{}}}}\n'
        '        assert stage.call("{name}.increment", args) == {{"count": 4}}',
    ),
}


def new_extension(name: str, kind: Kind = "operator", dest: str | Path = ".") -> Path:
    """Writes ``dest/name/`` (manifest, module, test) and returns the folder."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", name):
        raise ValueError(
            f"extension names are lower-case letters, digits, '-' or '_', starting with a letter; "
            f"got {name!r}"
        )
    if kind not in _MODULES:
        raise ValueError(f"kind must be one of {sorted(_MODULES)}, got {kind!r}")
    folder = Path(dest) / name
    if folder.exists():
        raise FileExistsError(f"{folder} already exists: choose another name or folder")
    module = f"{name.replace('-', '_')}_ext"
    manifest = textwrap.dedent(
        f"""\
        name = "{name}"
        version = "0.1.0"
        kind = "{kind}"
        description = "TODO: what {name} does."
        entry = "{module}"
        """
    ) + textwrap.dedent(_FUNCTIONS[kind].format())
    if kind != "motif":  # a view is shown, not orchestrated
        manifest += textwrap.dedent(
            """
            [conductor]
            triggers = ["text"]
            parallel = true

            [function_quest]
            trainable = true
            difficulty = "easy"
            """
        )
    manifest += textwrap.dedent(
        """
        [resources]
        memory_mb = 1024
        max_concurrency = 1
        """
    )
    direct, staged = (c.format(module=module, name=name) for c in _CHECKS[kind])
    folder.mkdir(parents=True)
    (folder / "symphony.toml").write_text(manifest)
    code = textwrap.dedent(_MODULES[kind]).format(name=name).lstrip()
    (folder / f"{module}.py").write_text(code)
    test = textwrap.dedent(_TEST).format(name=name, module=module, direct=direct, staged=staged)
    (folder / f"test_{module}.py").write_text(test.lstrip())
    load_manifest(folder)  # what we wrote must be valid
    return folder
