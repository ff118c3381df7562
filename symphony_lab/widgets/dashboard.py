"""The training dashboard: live curves of a Conductor's training, a Stop
button that ends it cleanly with the best weights kept, and a progress bar
on the terminal when there is no notebook.

>>> dash = TrainingDashboard()
>>> dash.launch(conductor, total_steps=200_000)   # in a notebook: trains on a thread
>>> dash                                         # the curves, live; Stop ends it
>>> conductor.train("medium", callbacks=[TrainingDashboard()])  # a terminal: a bar
>>> TrainingDashboard.follow(RunClient().train("medium"))  # a run in the Jupyter server

Curves per rollout: episode return, solve rate, cost over the optimum
(solved episodes; the envs solve each level once to know it), the PPO loss
terms (policy gradient, value, entropy, approximate KL), and steps per
second, with the ETA. "Best" is the highest solve rate, then return.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython import get_ipython
from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm

from symphony_lab.conductor.callbacks import TrainingLog
from symphony_lab.pit import VNode, h
from symphony_lab.runs.client import POLL_S, RemoteRun, RunFailed
from symphony_lab.widgets.vdom_widget import VdomWidget

if TYPE_CHECKING:
    from symphony_lab.conductor import Conductor

LOSSES = ("train/policy_gradient_loss", "train/value_loss", "train/entropy_loss", "train/approx_kl")


def in_notebook() -> bool:
    """Whether a Jupyter kernel with a front end runs this."""
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


class TrainingDashboard(BaseCallback):
    """A training callback with live curves; see the module docstring.

    ``best_path``: where the best weights are saved as they improve
    (``None``: kept in memory only, see :meth:`restore_best`).
    ``notebook``: draw the widget (default: when in a notebook) rather than
    a terminal progress bar. After a stop the Conductor holds its latest
    weights; :meth:`restore_best` puts the best back."""

    def __init__(
        self, *, best_path: str | Path | None = None, notebook: bool | None = None
    ) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []
        self.best: dict[str, float] | None = None
        self.best_path = Path(best_path) if best_path is not None else None
        self.best_state: dict[str, Any] | None = None
        self.stopped = False
        self.finished = False
        self.error: BaseException | None = None
        self._launched: Conductor | None = None
        #: The server run this dashboard follows (:meth:`follow`), if any.
        self.remote: RemoteRun | None = None
        self.total_steps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._conductor: Conductor | None = None
        self._bar: Any = None
        self.notebook = in_notebook() if notebook is None else notebook
        self.widget: Any = None
        if self.notebook:
            self.widget = VdomWidget(self._tree())

    # ---- in a notebook: train on a thread, so the Stop button is heard ----

    def launch(self, conductor: Conductor, **train: Any) -> TrainingDashboard:
        """Starts ``conductor.train(callbacks=[self], **train)`` on a thread
        and returns at once; :meth:`wait` joins it."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("this dashboard is already following a training run")
        callbacks = [*train.pop("callbacks", ()), self]
        self._launched = conductor
        self.finished = False

        def run() -> None:
            try:
                conductor.train(callbacks=callbacks, **train)
            except BaseException as e:  # shown in the widget, raised by wait()
                self.error = e
            finally:
                self.finished = True
                self._refresh()

        return self._start(run, "training")

    @classmethod
    def follow(
        cls, run: RemoteRun, *, notebook: bool | None = None, poll_s: float = POLL_S
    ) -> TrainingDashboard:
        """A dashboard of a run in the Jupyter server (see
        :mod:`symphony_lab.runs.client`): its training rows as the run writes
        them, the history first; Stop cancels the run. The run does not
        depend on this kernel: after a restart, follow it again."""
        dash = cls(notebook=notebook)
        dash.remote = run
        dash.total_steps = int(run.record().params.get("steps", 0))

        def read() -> None:
            try:
                for event in run.follow(poll_s=poll_s):
                    if event.get("type") == "train":
                        dash._add({k: v for k, v in event.items() if k != "type"})
                rec = run.record()
                dash.stopped = rec.status == "cancelled"
                if rec.status not in ("done", "cancelled"):
                    dash.error = RunFailed(f"run {run.id} ended {rec.status}: {rec.error}")
            except BaseException as e:  # shown in the widget, raised by wait()
                dash.error = e
            finally:
                dash.finished = True
                dash._refresh()

        return dash._start(read, f"follow-{run.id}")

    def _start(self, fn: Callable[[], None], name: str) -> TrainingDashboard:
        # With the launching cell's context: the kernel routes what the thread
        # sends (widget messages, output) by the parent message it holds.
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(fn,), name=name, daemon=True)
        self._thread.start()
        return self

    def _add(self, row: dict[str, Any]) -> None:
        """A row of a run followed from the server: its speed from its own clock."""
        row = {k: math.nan if v is None else float(v) for k, v in row.items()}
        wall, steps = row.get("wall_s", math.nan), row.get("steps", math.nan)
        row["steps_per_s"] = steps / wall if wall > 0 else math.nan
        left = max(self.total_steps - steps, 0)
        row["eta_s"] = left / row["steps_per_s"] if row["steps_per_s"] > 0 else math.nan
        self.rows.append(row)
        if self._better(row):
            self.best = row
        self._refresh()

    def wait(self, timeout: float | None = None) -> TrainingDashboard:
        """Waits for a launched run; re-raises what it raised."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        """Ends training after the current step (the Stop button does this);
        a run in the server is cancelled."""
        self._stop.set()
        if self.remote is not None and not self.finished:
            self.remote.cancel()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def restore_best(self, conductor: Conductor) -> None:
        """Puts the best weights seen back into ``conductor``."""
        if self.best_state is None:
            raise ValueError("no rollout has finished yet: there are no best weights")
        conductor.net.load_state_dict(self.best_state)

    # ---- the callback ----

    def _on_training_start(self) -> None:
        self._stop.clear()
        self.stopped = False
        self._started = time.perf_counter()
        self._start_steps = self.num_timesteps
        # SB3 counts the steps of earlier runs into the total of a resumed one.
        self.total_steps = int(self.locals.get("total_timesteps", 0)) - self.num_timesteps
        # The cost-ratio curve needs each level's optimum (solved once per level);
        # an env that is not Function Quest simply has no ratio curve.
        if self.training_env is not None:
            with contextlib.suppress(AttributeError):
                self.training_env.set_attr("solve_optimal", True)

        # The Conductor's own log of each rollout sits beside us, in the
        # callback list (nested when SB3 adds its progress bar).
        def logs(cb: Any) -> Any:
            for c in getattr(cb, "callbacks", []):
                yield c
                yield from logs(c)

        log = next(
            (c for c in logs(self.locals.get("callback")) if isinstance(c, TrainingLog)), None
        )
        self._conductor = log.conductor if log is not None else self._launched
        if not self.notebook:
            self._bar = tqdm(total=self.total_steps, unit="step", desc="training", leave=True)
        self._refresh()

    def _on_step(self) -> bool:
        if self._stop.is_set():
            self.stopped = True
            return False
        return True

    def _on_rollout_end(self) -> None:
        history = self._conductor.history if self._conductor is not None else []
        row = dict(history[-1]) if history else {"steps": float(self.num_timesteps)}
        values = self.model.logger.name_to_value if self.model is not None else {}
        for key in LOSSES:
            if key in values:
                row[key.removeprefix("train/")] = float(values[key])
        elapsed = time.perf_counter() - self._started
        done = self.num_timesteps - self._start_steps
        row["steps_per_s"] = done / elapsed if elapsed > 0 else math.nan
        left = max(self.total_steps - done, 0)
        row["eta_s"] = left / row["steps_per_s"] if row["steps_per_s"] > 0 else math.nan
        self.rows.append(row)
        if self._better(row):
            self.best = row
            if self._conductor is not None:
                self.best_state = {
                    k: v.detach().clone() for k, v in self._conductor.net.state_dict().items()
                }
                if self.best_path is not None:
                    self._conductor.num_timesteps = self.num_timesteps
                    self._conductor.save(self.best_path)
        if self._bar is not None:
            self._bar.update(self.num_timesteps - self._start_steps - self._bar.n)
            self._bar.set_postfix(
                solve=f"{row.get('solve_rate', math.nan):.2f}",
                ret=f"{row.get('mean_return', math.nan):.2f}",
                ratio=f"{row.get('cost_ratio', math.nan):.3f}",
            )
        self._refresh()

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._refresh()

    def _better(self, row: dict[str, float]) -> bool:
        def key(r: dict[str, float]) -> tuple[float, float]:
            solve, ret = r.get("solve_rate", math.nan), r.get("mean_return", math.nan)
            return (
                -math.inf if math.isnan(solve) else solve,
                -math.inf if math.isnan(ret) else ret,
            )

        return self.best is None or key(row) > key(self.best)

    # ---- the picture ----

    def _refresh(self) -> None:
        if self.widget is not None:
            self.widget.update(self._tree())

    def _series(self, key: str) -> tuple[list[float], list[float]]:
        # A diverging run logs infinite losses: they are left out (a gap in the
        # curve), since JSON has no infinity and a chart no room for one.
        pts = [(r["steps"], r[key]) for r in self.rows if key in r and math.isfinite(r[key])]
        return [p[0] for p in pts], [p[1] for p in pts]

    def _chart(self, key: str, title: str) -> VNode:
        x, y = self._series(key)
        return h(
            "line_chart", {"x": x, "y": y, "title": title, "width": 300, "height": 140}, key=key
        )

    def _tree(self) -> VNode:
        last = self.rows[-1] if self.rows else {}
        steps = int(last.get("steps", 0))
        if self.error is not None:
            status = f"failed: {self.error!r}"
        elif self.stopped:
            status = f"stopped at {steps:,} steps; best weights kept (restore_best)"
        elif self.finished:
            status = f"finished: {steps:,} steps"
        elif self.running or self.rows:
            eta = last.get("eta_s", math.nan)
            status = f"{steps:,} / {self.total_steps:,} steps" + (
                f", ETA {eta:.0f} s" if not math.isnan(eta) else ""
            )
        else:
            status = "waiting for the first rollout"
        best = self.best or {}
        return h(
            "div",
            {"class": "symphony-dashboard"},
            h(
                "div",
                {"style": {"display": "flex", "gap": "12px", "align_items": "center"}},
                h(
                    "button",
                    {
                        "label": "Stop",
                        "disabled": not self.running or self.stopped or self.finished,
                    },
                    on={"click": lambda _e: self.stop()},
                ),
                h("span", {"class": "status"}, status),
                h(
                    "span",
                    {"class": "best"},
                    f"best: solve {best.get('solve_rate', math.nan):.2f},"
                    f" return {best.get('mean_return', math.nan):.2f}"
                    if best
                    else "",
                ),
            ),
            h(
                "div",
                {"style": {"display": "flex", "flex_wrap": "wrap", "gap": "8px"}},
                self._chart("mean_return", "episode return"),
                self._chart("solve_rate", "solve rate"),
                self._chart("cost_ratio", "cost / optimum (solved)"),
                self._chart("steps_per_s", "steps per second"),
                # One chart per loss term: their scales differ by orders of magnitude.
                self._chart("policy_gradient_loss", "policy loss"),
                self._chart("value_loss", "value loss"),
                self._chart("entropy_loss", "entropy loss"),
                self._chart("approx_kl", "approximate KL"),
            ),
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if self.widget is None:
            return self._tree()._repr_mimebundle_()
        return self.widget._repr_mimebundle_(**kwargs)


__all__ = ["TrainingDashboard", "in_notebook"]
