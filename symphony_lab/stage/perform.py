"""Real runs: a goal, or a melody, performed on the Stage's extensions.

A goal names artifact kinds to obtain from the kinds given as inputs. The
Stage's functions become a level of the planning model, compiled once per run
(a function reads the kinds of its inputs and produces the kinds of its
outputs, at its manifest's cost; calling an extension that is not running
adds a cold start), and a :class:`~symphony_lab.planning.Policy` chooses each
call from the run's state: the exact planner, or a trained Conductor, which
observes the run exactly as it observed Function Quest in training. Every call is a
task of a :class:`DagTracker`, every result an ArtifactStore artifact whose
inputs are the artifacts it was given (lineage), every extension's process
is leased from a :class:`PoolManager` (a cold lease starts the process), and
alternatives are chosen by an :class:`Arbiter` that learns from outcomes.

A melody is a DAG the user writes: steps naming a function, arguments that
refer to inputs or earlier steps as ``"$name"``, and alternatives to fall
back on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from symphony_lab.pit import Arbiter, ArtifactStore, DagTracker, PoolManager
from symphony_lab.planning import Level, LevelError, Planner, Policy, Problem, State
from symphony_lab.stage.backend import State as ExtensionState
from symphony_lab.stage.errors import ExtensionError

if TYPE_CHECKING:
    import pandas as pd

    from symphony_lab.stage.stage import Stage

OnFailure = Literal["fallback", "skip", "raise"]
#: Cost the planner charges for starting a stopped extension.
COLD_START_COST = 5.0
#: A goal run's budget: large, since the Stage's costs are relative hints.
BUDGET = 1e5


@dataclass
class Step:
    """One call of a run."""

    key: str
    target: str
    inputs: dict[str, str]
    output: str | None = None
    #: Every artifact the call produced (``output`` is the first).
    outputs: list[str] = field(default_factory=list)
    status: str = "pending"
    attempts: int = 0
    seconds: float = 0.0
    cold_start: bool = False
    error: str = ""


@dataclass
class Performance:
    """What a run did: the artifacts it holds, its calls, and their DAG."""

    goal: list[str]
    held: dict[str, str]
    steps: list[Step]
    tracker: DagTracker
    store: ArtifactStore
    cost: float = 0.0

    @property
    def solved(self) -> bool:
        return all(kind in self.held for kind in self.goal)

    @property
    def failed_calls(self) -> int:
        """Attempts that raised, retries included."""
        return sum(s.attempts - (s.status == "done") for s in self.steps)

    @property
    def wasted_calls(self) -> int:
        """Calls that succeeded but made nothing the goal's artifacts came from."""
        needed = {self.held[k] for k in self.goal if k in self.held}
        useful = 0
        for s in reversed(self.steps):  # a call's inputs come from earlier calls
            if s.status == "done" and needed.intersection(s.outputs):
                useful += 1
                needed.update(s.inputs.values())
        return sum(s.status == "done" for s in self.steps) - useful

    def summary(self) -> dict[str, Any]:
        """The run in one row: solved, calls made, failed and wasted ones, cost."""
        return {
            "goal": ", ".join(self.goal),
            "solved": self.solved,
            "calls": sum(s.attempts for s in self.steps),
            "failed_calls": self.failed_calls,
            "wasted_calls": self.wasted_calls,
            "cost": self.cost,
            "seconds": sum(s.seconds for s in self.steps),
        }

    def value(self, kind: str) -> Any:
        """The artifact of ``kind``, decoded."""
        if kind not in self.held:
            raise KeyError(f"the run holds no {kind!r} (it holds: {', '.join(sorted(self.held))})")
        return decode(self.store, self.held[kind])

    def frame(self) -> pd.DataFrame:
        import pandas as pd  # on first use: a run needs no pandas otherwise

        return pd.DataFrame([s.__dict__ for s in self.steps])


def encode(value: Any) -> tuple[bytes, str]:
    if isinstance(value, bytes):
        return value, "application/octet-stream"
    return json.dumps(value).encode(), "application/json"


def decode(store: ArtifactStore, h: str) -> Any:
    data = store.get_by_hash(h)
    if store.info(h).get("media_type") == "application/json":
        return json.loads(data)
    return data


@dataclass
class MelodyStep:
    name: str
    target: str
    args: dict[str, Any]
    alternatives: tuple[str, ...] = ()


@dataclass
class Melody:
    """A user-written DAG of calls::

    m = Melody()
    m.step("words", "text.split", text="$doc", sep=" ")
    m.step("line", "text.join", parts="$words", sep="-")
    stage.play(m, inputs={"doc": "a b c"})
    """

    steps: dict[str, MelodyStep] = field(default_factory=dict)

    def step(self, name: str, target: str, *, alternatives: Iterable[str] = (), **args: Any) -> str:
        if name in self.steps:
            raise ValueError(f"the melody already has a step named {name!r}")
        self.steps[name] = MelodyStep(name, target, args, tuple(alternatives))
        return f"${name}"

    def references(self, step: MelodyStep) -> dict[str, str]:
        """Argument -> the step or input it names (``"$name"``)."""
        return {a: v[1:] for a, v in step.args.items() if isinstance(v, str) and v.startswith("$")}


class Performer:
    """Runs goals and melodies on a Stage; see the module's docstring.

    ``policy`` chooses each call of a goal run (by default the exact
    :class:`~symphony_lab.planning.Planner`). A failed call is retried
    ``retries`` times. Then, by ``on_failure``: in a goal run, ``"fallback"``
    and ``"skip"`` plan again without that function (an alternative takes its
    place, or the run ends unsolved) and ``"raise"`` raises; in a melody,
    ``"fallback"`` tries the step's alternatives before skipping it,
    ``"skip"`` skips it at once, and both skip its dependents.
    """

    def __init__(
        self,
        stage: Stage,
        *,
        store: ArtifactStore | None = None,
        policy: Policy | None = None,
        pool: PoolManager | None = None,
        arbiter: Arbiter | None = None,
        retries: int = 1,
        on_failure: OnFailure = "fallback",
        timeout: float | None = 60.0,
    ) -> None:
        if store is None:
            if stage.store_path is None:
                raise ValueError("a run stores its artifacts: give Stage(store=...) or store=")
            store = ArtifactStore(stage.store_path)
        if on_failure not in ("fallback", "skip", "raise"):
            raise ValueError(f"on_failure must be fallback, skip or raise, got {on_failure!r}")
        if policy is not None and not isinstance(policy, Policy):
            raise TypeError(
                f"policy must choose calls (choose(problem, state)), got {type(policy).__name__}"
            )
        self.stage = stage
        self.store = store
        self.policy: Policy = policy if policy is not None else Planner()
        self.pool = pool or PoolManager(reaper_interval=None)
        self.arbiter = arbiter or Arbiter(policy="thompson")
        self.retries = retries
        self.on_failure = on_failure
        self.timeout = timeout
        for ext in stage:
            if ext.name not in self.pool.functions:
                self.pool.register(
                    ext.name, max_instances=1, warmup=0.0, idle_timeout=stage.idle_timeout
                )
        known = set(self.arbiter.candidates)
        for target in stage.functions():
            if target not in known:
                self.arbiter.add_candidate(target)

    # -- one call ----------------------------------------------------------------
    def _call(self, step: Step, args: dict[str, Any]) -> Any:
        """Leases the extension (a cold lease starts its process), calls, retries."""
        ext, function = self.stage.resolve(step.target)
        t = time.perf_counter()
        last: ExtensionError | None = None
        for _ in range(1 + self.retries):
            step.attempts += 1
            with self.pool.acquire(ext.name):
                if self.stage._wake(ext):  # a cold start: the process is spawned now
                    step.cold_start = True
                    ext.wait_ready(ext.start_timeout)
                try:
                    result = ext.call(function, args, timeout=self.timeout)
                except ExtensionError as e:
                    last = e
                    self.arbiter.record(step.target, False, latency=time.perf_counter() - t)
                    continue
            step.seconds = time.perf_counter() - t
            self.arbiter.record(step.target, True, latency=step.seconds)
            return result
        step.seconds = time.perf_counter() - t
        step.error = str(last).splitlines()[0] if last else ""
        raise last if last else RuntimeError("no attempt was made")

    def _store(self, step: Step, result: Any, kind: str) -> str:
        data, media = encode(result)
        return self.store.put_blob(
            data,
            kind=kind,
            media_type=media,
            producer=step.target,
            inputs=sorted(set(step.inputs.values())),
        )

    # -- goals -----------------------------------------------------------------
    def level(self, goal: list[str], held: Iterable[str], exclude: Iterable[str] = ()) -> Level:
        """The Stage as a level for ``goal``: the functions that can serve it
        (but ``exclude``, and those of extensions stopped or given up), from
        the kinds ``held``. Every function costs a cold start on top when its
        extension is not running, which the run's state says."""
        skip = set(exclude)
        gone = {
            ext.name
            for ext in self.stage
            if ext.state in (ExtensionState.TERMINATED, ExtensionState.FAILED)
        }
        usable = {
            target: f
            for target, f in self.stage.functions().items()
            if target not in skip and f.outputs and target.split(".", 1)[0] not in gone
        }
        # Only what can lead to the goal: a function whose products no goal
        # needs (a side effect elsewhere, a dead end) is never a call to make.
        needed = set(goal)
        grew = True
        while grew:
            grew = False
            for f in usable.values():
                if needed.intersection(f.outputs) and not needed.issuperset(f.inputs.values()):
                    needed.update(f.inputs.values())
                    grew = True
        kept = {t: f for t, f in usable.items() if needed.intersection(f.outputs)}
        functions = [
            {
                "name": target,
                "reads": sorted(set(f.inputs.values())),
                "produces": sorted(set(f.outputs)),
                "cost": f.cost,
                "warmup": COLD_START_COST,
            }
            for target, f in kept.items()
        ]
        initial = sorted(set(held))
        kinds = sorted(
            {k for f in kept.values() for k in (*f.inputs.values(), *f.outputs)}
            | set(goal)
            | set(initial)
        )
        return Level.from_dict(
            {
                "id": "stage",
                "title": "a goal on the Stage",
                "budget": BUDGET,
                "initial": initial,
                "kinds": {k: k for k in kinds},
                "goals": [{"kind": g, "importance": "essential", "reward": 0.0} for g in goal],
                "functions": functions,
            }
        )

    def _state(self, problem: Problem, held: Iterable[str], cost: float) -> State:
        """Where the run stands: the kinds held, and as warm every function
        whose extension is running."""
        running = {
            ext.name
            for ext in self.stage
            if ext.state not in (ExtensionState.CREATED, ExtensionState.TERMINATED)
        }
        warm = [name for name in problem.names if name.split(".", 1)[0] in running]
        return problem.state(held, warm, BUDGET - cost)

    def _alternatives(self, level: Level, chosen: str, held: set[str]) -> list[str]:
        """Functions that could stand in for ``chosen`` now: same new kinds, needs held,
        no dearer than 1.5 times its cost."""
        by_name = {f.name: f for f in level.functions}
        c = by_name[chosen]
        wanted = set(c.produces) - held
        return [
            f.name
            for f in level.functions
            if f.needs <= held and wanted <= set(f.produces) and f.cost <= 1.5 * c.cost
        ]

    def perform(
        self,
        goal: str | list[str],
        inputs: Mapping[str, Any],
        *,
        args: Mapping[str, Mapping[str, Any]] | None = None,
        max_calls: int = 32,
    ) -> Performance:
        """Obtains the ``goal`` kinds from ``inputs`` (kind -> value)."""
        goals = [goal] if isinstance(goal, str) else list(goal)
        extra = {k: dict(v) for k, v in (args or {}).items()}
        try:
            problem = Problem(self.level(goals, inputs))
        except (LevelError, ValueError) as e:  # unreachable, or too large to plan over
            raise ValueError(f"cannot perform {goals}: {e}") from None
        tracker = DagTracker()
        held: dict[str, str] = {}
        producer: dict[str, str] = {}
        for kind, value in inputs.items():
            data, media = encode(value)
            held[kind] = self.store.put_blob(data, kind=kind, media_type=media, producer="input")
            key = f"input:{kind}"
            tracker.add_task(key, payload={"kind": kind, "artifact": held[kind]})
            tracker.start(key)
            tracker.done(key)
            producer[kind] = key
        steps: list[Step] = []
        excluded: set[str] = set()
        cost = 0.0
        while not all(g in held for g in goals) and len(steps) < max_calls:
            state = self._state(problem, held, cost)
            choice = self.policy.choose(problem, state)
            if choice is None:
                break
            if not (0 <= choice < len(problem) and problem.legal(state) >> choice & 1):
                what = problem.names[choice] if 0 <= choice < len(problem) else f"#{choice}"
                raise ValueError(
                    f"{type(self.policy).__name__} chose {what}, which cannot be called now "
                    f"(it holds {', '.join(sorted(held))})"
                )
            chosen = problem.names[choice]
            among = self._alternatives(problem.level, chosen, set(held))
            target = self.arbiter.choose(among=among) if len(among) > 1 else chosen
            fn = self.stage.functions()[target]
            step = Step(
                key=f"{len(steps)}:{target}",
                target=target,
                inputs={arg: held[kind] for arg, kind in fn.inputs.items() if kind in held},
            )
            call_args = {arg: decode(self.store, h) for arg, h in step.inputs.items()} | extra.get(
                target, {}
            )
            tracker.add_task(step.key, cost=fn.cost, payload={"target": target})
            for kind in set(fn.inputs.values()):
                if kind in producer:
                    tracker.add_edge(producer[kind], step.key)
            steps.append(step)
            tracker.start(step.key)
            try:
                result = self._call(step, call_args)
            except ExtensionError:
                step.status = "failed"
                if self.on_failure == "raise":
                    tracker.fail(step.key)
                    raise
                tracker.fail(step.key, policy="skip")
                excluded.add(target)  # fall back: plan again without it
                try:
                    problem = Problem(self.level(goals, held, excluded))
                except LevelError:
                    break  # the functions left after failures cannot reach the goal
                continue
            cost += fn.cost
            outputs = fn.outputs
            for kind in outputs:
                value = (
                    result[kind]
                    if isinstance(result, dict) and set(outputs) <= set(result)
                    else result
                )
                held[kind] = self._store(step, value, kind)
                producer[kind] = step.key
            step.outputs = [held[kind] for kind in outputs]
            step.output = step.outputs[0]
            step.status = "done"
            tracker.done(step.key)
        return Performance(goals, held, steps, tracker, self.store, cost)

    # -- melodies -------------------------------------------------------------
    def play(self, melody: Melody, inputs: Mapping[str, Any]) -> Performance:
        """Runs the melody's steps in dependency order; see ``on_failure``."""
        tracker = DagTracker()
        values: dict[str, str] = {}
        for name, value in inputs.items():
            data, media = encode(value)
            values[name] = self.store.put_blob(data, kind=name, media_type=media, producer="input")
        for s in melody.steps.values():
            tracker.add_task(s.name, payload={"target": s.target})
        for s in melody.steps.values():
            for ref in melody.references(s).values():
                if ref in melody.steps:
                    tracker.add_edge(ref, s.name)  # a cycle raises CycleError here
                elif ref not in inputs:
                    raise KeyError(f"step {s.name!r} refers to ${ref}, neither a step nor an input")
        steps: list[Step] = []
        while ready := tracker.take_ready():  # taken tasks are running
            for key in ready:
                name = str(key)
                s = melody.steps[name]
                refs = melody.references(s)
                step = Step(
                    key=name, target=s.target, inputs={a: values[r] for a, r in refs.items()}
                )
                call_args = {
                    a: decode(self.store, values[refs[a]]) if a in refs else v
                    for a, v in s.args.items()
                }
                steps.append(step)
                result = None
                for target in (s.target, *s.alternatives):
                    step.target = target
                    try:
                        result = self._call(step, call_args)
                        break
                    except ExtensionError:
                        if self.on_failure != "fallback":
                            break
                if step.error and result is None:
                    step.status = "failed"
                    if self.on_failure == "raise":
                        tracker.fail(name)
                        raise ExtensionError(f"step {name!r} failed: {step.error}")
                    tracker.fail(name, policy="skip")
                    continue
                kind = (self.stage.functions()[step.target].outputs or [name])[0]
                values[name] = step.output = self._store(step, result, kind)
                step.outputs = [step.output]
                step.status = "done"
                tracker.done(name)
        held = {n: values[n] for n in melody.steps if n in values}
        return Performance(list(melody.steps), held, steps, tracker, self.store)
