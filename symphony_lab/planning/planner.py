"""The exact planner as a :class:`~symphony_lab.planning.protocol.Policy`:
the first call of the optimal plan from where the run stands, planned again
at every call (so after every failure)."""

from __future__ import annotations

import weakref

from symphony_lab.planning.problem import Problem, State
from symphony_lab.planning.solver import expected_costs, solve_from


class Planner:
    """Replans with the exact solver at every call.

    ``expected_costs=False`` plans as if nothing fails, within the budget
    left. ``expected_costs=True`` plans on each call's expected cost when
    retried until it succeeds, budget aside: the best policy wherever no
    function both warms up and fails, and what the Conductor imitates.
    """

    def __init__(self, *, expected_costs: bool = False) -> None:
        self.expected_costs = expected_costs
        self._expected: weakref.WeakKeyDictionary[Problem, Problem] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"Planner(expected_costs={self.expected_costs})"

    def planned(self, problem: Problem) -> Problem:
        """The problem this planner plans on: ``problem``, or its
        expected-cost twin (made once per problem)."""
        if not self.expected_costs:
            return problem
        twin = self._expected.get(problem)
        if twin is None:
            twin = self._expected[problem] = Problem(expected_costs(problem.level))
        return twin

    def choose(self, problem: Problem, state: State) -> int | None:
        budget = float("inf") if self.expected_costs else state.budget_left
        plan = solve_from(self.planned(problem), state.held, state.warm, budget)
        if plan is None or not plan.calls:
            return None
        return problem.index[plan.calls[0]]
