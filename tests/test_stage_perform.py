"""Goals and melodies performed on real extension processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from symphony_lab import pit
from symphony_lab.conductor import Conductor
from symphony_lab.pit import CycleError
from symphony_lab.planning import Problem, State
from symphony_lab.stage import ExtensionError, Melody, Stage
from symphony_lab.stage import State as ExtensionState

MakeExtension = Callable[..., Path]


def extension(make: MakeExtension, name: str, code: str, functions: str) -> Path:
    folder = make(name, code)
    toml = folder / "symphony.toml"
    toml.write_text(toml.read_text() + functions)
    return folder


@pytest.fixture
def extensions(make_extension: MakeExtension) -> list[Path]:
    words = extension(
        make_extension,
        "words",
        "from symphony_lab.sdk import operator\n\n@operator\ndef split(text):\n"
        "    return text.split()\n",
        '[[functions]]\nname = "split"\ninputs = { text = "text" }\noutputs = ["words"]\n',
    )
    counter = extension(
        make_extension,
        "counter",
        "from symphony_lab.sdk import operator\n\n@operator\ndef count(words):\n"
        "    return len(words)\n\n@operator\ndef shout(words, times=1):\n"
        "    return ' '.join(w.upper() for w in words) * times\n",
        '[[functions]]\nname = "count"\ninputs = { words = "words" }\noutputs = ["count"]\n'
        "cost = 2.0\n"
        '[[functions]]\nname = "shout"\ninputs = { words = "words" }\noutputs = ["loud"]\n',
    )
    # Cheaper than counter.count, so the planner tries it first; it always fails.
    flaky = extension(
        make_extension,
        "flaky",
        "from symphony_lab.sdk import operator\n\n@operator\ndef count(words):\n"
        "    raise RuntimeError('flaky today')\n",
        '[[functions]]\nname = "count"\ninputs = { words = "words" }\noutputs = ["count"]\n'
        "cost = 0.5\n",
    )
    return [words, counter, flaky]


@pytest.fixture
def stage(extensions: list[Path], tmp_path: Path) -> Iterator[Stage]:
    with Stage(extensions, store=tmp_path / "store") as s:
        yield s


def test_planner_reaches_the_goal_with_fallback_lineage_and_a_dag(stage: Stage) -> None:
    perf = stage.perform("count", {"text": "a b c"}, retries=1)
    assert perf.solved
    assert perf.value("count") == 3
    assert [(s.target, s.status) for s in perf.steps] == [
        ("words.split", "done"),
        ("flaky.count", "failed"),
        ("counter.count", "done"),
    ]
    assert perf.steps[1].attempts == 2  # one retry, then the fallback
    assert "flaky today" in perf.steps[1].error
    assert (perf.failed_calls, perf.wasted_calls) == (2, 0)
    assert perf.summary() | {"seconds": 0} == {
        "goal": "count",
        "solved": True,
        "calls": 4,
        "failed_calls": 2,
        "wasted_calls": 0,
        "cost": 3.0,
        "seconds": 0,
    }
    store = perf.store
    words_hash = perf.held["words"]
    ancestors = {h for pair in store.lineage(perf.held["count"]) for h in pair}
    assert {words_hash, perf.held["text"]} <= ancestors
    assert store.info(perf.held["count"])["producer"] == "counter.count"
    states = {k: str(perf.tracker.state(k)) for k in perf.tracker}
    assert states["0:words.split"].endswith("done")
    assert states["1:flaky.count"].endswith("skipped") or states["1:flaky.count"].endswith("failed")
    assert ("0:words.split", "2:counter.count") in perf.tracker.edges()


def test_extra_arguments_and_raise_mode(stage: Stage) -> None:
    perf = stage.perform("loud", {"text": "hi"}, args={"counter.shout": {"times": 2}})
    assert perf.value("loud") == "HIHI"
    with pytest.raises(ExtensionError, match="flaky today"):
        stage.perform("count", {"text": "a"}, retries=0, on_failure="raise")


def test_a_conductor_policy_drives_the_run(stage: Stage) -> None:
    perf = Conductor(seed=0).perform("count", {"text": "x y"}, stage, retries=0)
    assert perf.solved
    assert perf.value("count") == 2
    assert perf.steps[-1].target == "counter.count"


def test_unreachable_goals(stage: Stage) -> None:
    with pytest.raises(ValueError, match="goal 'summary' is unreachable"):
        stage.perform("summary", {"text": "a"})
    # Reachable only through the failing function: the run ends unsolved.
    perf = stage.perform("count", {"words": ["a"]}, retries=0, on_failure="skip")
    assert perf.solved  # counter.count is the fallback
    stage["counter"].stop()
    perf = stage.perform("count", {"words": ["a"]}, retries=0)
    assert not perf.solved
    assert perf.steps[0].status == "failed"


def test_melody_runs_in_order_with_alternatives(stage: Stage) -> None:
    m = Melody()
    m.step("w", "words.split", text="$doc")
    m.step("n", "flaky.count", words="$w", alternatives=["counter.count"])
    m.step("l", "counter.shout", words="$w", times=1)
    perf = stage.play(m, {"doc": "one two"})
    assert perf.value("n") == 2
    assert perf.value("l") == "ONE TWO"
    assert {s.key: s.target for s in perf.steps}["n"] == "counter.count"


def test_melody_skip_mode_skips_dependents(stage: Stage) -> None:
    m = Melody()
    m.step("n", "flaky.count", words="$words")
    m.step("after", "counter.shout", words="$n")
    perf = stage.play(m, {"words": ["a"]}, on_failure="skip", retries=0)
    assert [s.status for s in perf.steps] == ["failed"]
    assert "after" not in perf.held


def test_melody_errors_are_clear(stage: Stage) -> None:
    m = Melody()
    m.step("a", "counter.count", words="$b")
    m.step("b", "counter.count", words="$a")
    with pytest.raises(CycleError):
        stage.play(m, {})
    m2 = Melody()
    m2.step("a", "counter.count", words="$nowhere")
    with pytest.raises(KeyError, match=r"refers to \$nowhere"):
        stage.play(m2, {})
    with pytest.raises(ValueError, match="already has a step named 'a'"):
        m2.step("a", "counter.count")


def test_extensions_are_leased_cold_then_warm(
    make_extension: MakeExtension, tmp_path: Path
) -> None:
    folder = extension(
        make_extension,
        "lazy",
        "from symphony_lab.sdk import operator\n\n@operator\ndef up(text):\n"
        "    return text.upper()\n",
        '[[functions]]\nname = "up"\ninputs = { text = "text" }\noutputs = ["upper"]\n',
    )
    stage = Stage([folder], store=pit.ArtifactStore(tmp_path / "s"))
    try:
        assert stage["lazy"].state == "created"
        first = stage.perform("upper", {"text": "a"})
        assert first.steps[0].cold_start  # the lease started the process
        assert stage["lazy"].state == "healthy"
        again = stage.perform("upper", {"text": "b"})
        assert not again.steps[0].cold_start
        assert again.value("upper") == "B"
    finally:
        stage.close()


def test_a_trained_conductor_performs_like_the_planner(stage: Stage) -> None:
    from symphony_lab.stage import Performer

    level = Performer(stage).level(["count"], ["text"])
    conductor = Conductor(seed=0).train(
        [level], total_steps=128, n_envs=1, pretrain="expert", pretrain_episodes=20
    )
    perf = conductor.perform("count", {"text": "a b c d"}, stage, retries=0)
    planned = stage.perform("count", {"text": "a b c d"}, retries=0)
    assert perf.solved
    assert perf.value("count") == 4
    assert [s.target for s in perf.steps] == [s.target for s in planned.steps]


class Scripted:
    """A policy that calls functions in a fixed order, each when it may."""

    def __init__(self, *names: str) -> None:
        self.names = list(names)

    def choose(self, problem: Problem, state: State) -> int | None:
        legal = problem.legal(state)
        for name in self.names:
            i = problem.names.index(name)
            if legal >> i & 1:
                self.names.remove(name)
                return i
        return None


def test_a_call_the_goal_did_not_come_from_counts_as_wasted(
    extensions: list[Path], make_extension: MakeExtension, tmp_path: Path
) -> None:
    letters = extension(
        make_extension,
        "letters",
        "from symphony_lab.sdk import operator\n\n@operator\ndef spell(text):\n"
        "    return list(text)\n\n@operator\ndef count(letters):\n"
        "    return len(letters)\n",
        '[[functions]]\nname = "spell"\ninputs = { text = "text" }\noutputs = ["letters"]\n'
        '[[functions]]\nname = "count"\ninputs = { letters = "letters" }\noutputs = ["count"]\n'
        "cost = 9.0\n",
    )
    words, counter, _flaky = extensions
    with Stage([words, counter, letters], store=tmp_path / "store") as stage:
        # Spelling could lead to a count, but the count comes from the words.
        policy = Scripted("letters.spell", "words.split", "counter.count")
        perf = stage.perform("count", {"text": "a b"}, policy=policy, retries=0)
        assert perf.solved
        assert [s.target for s in perf.steps] == ["letters.spell", "words.split", "counter.count"]
        assert (perf.failed_calls, perf.wasted_calls) == (0, 1)


def test_a_new_user_goal_on_the_shipped_extensions_calls_only_what_it_needs(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("name,age\nada,36\nalan,41\n")
    grants = {"tables": {"read": [tmp_path]}}
    with Stage(builtin=True, store=tmp_path / "store", grants=grants) as stage:
        for policy in (Conductor(seed=0), None):
            perf = stage.perform("records", {"path": str(csv)}, policy=policy, retries=0)
            assert perf.solved
            assert [s.target for s in perf.steps] == ["tables.load", "tables.head"]
            assert perf.summary()["failed_calls"] == perf.summary()["wasted_calls"] == 0
            assert perf.value("records")[0]["name"] == "ada"


def test_an_idle_extension_cools_and_its_process_stops(
    extensions: list[Path], tmp_path: Path
) -> None:
    """The pool's cooling stands for a real process: idle past ``idle_timeout``,
    the extension's process ends, and the next run starts it again."""
    words, counter, _flaky = extensions
    with Stage([words, counter], store=tmp_path / "store", idle_timeout=0.3) as stage:
        assert stage.perform("count", {"text": "a b c"}).value("count") == 3
        pid = stage["words"].pid
        assert pid is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and stage["words"].state is not ExtensionState.CREATED:
            time.sleep(0.05)
        assert stage["words"].state is ExtensionState.CREATED, stage.states()
        gone = time.monotonic() + 15
        while time.monotonic() < gone and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} still runs after cooling"
        perf = stage.perform("count", {"text": "d e"})
        assert perf.value("count") == 2
        assert perf.steps[0].cold_start
        # Running again under a new pid, or cooled once more by now (0.3 s idle).
        assert stage["words"].pid != pid
        # A direct call wakes a parked extension too.
        assert stage.call("counter.count", {"words": ["x"]}) == 1
