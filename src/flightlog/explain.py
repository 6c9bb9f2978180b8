"""Why a step ran, or where its result came from; and what a resume or a new run would do.

Explanations compare records: a cache miss is explained by the nearest earlier result of the
same task (other arguments: which parameter; other code: which function or constant), using
the arguments each step recorded and the code digests (``components``) each task version
recorded. Nothing here executes user code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import codec
from .errors import FlightlogError, NotFoundError
from .model import Origin, Status, Step, TaskRecord
from .runtime.differences import argument_difference, code_difference
from .runtime.liveness import effective_status
from .stores import Store, iter_steps

CANDIDATES = 20
NAMED = 10  # steps a note names (the rest are counted)


class ResumePlan(list[dict[str, Any]]):
    """What a resume would do: one ``{"step", "decision", "why"}`` per recorded step, and
    ``notes`` that concern many steps at once (said once, not on every row)."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__(items)
        self.notes: list[str] = []


class Explainer:
    """Answers ``explain`` and ``plan`` questions over one store.

    ``current_task`` finds the TaskRecord of the task of that name as defined in this process
    (its current code), or None when the process does not define it.
    """

    def __init__(self, store: Store, current_task: Callable[[str], TaskRecord | None]):
        self.store = store
        self.current_task = current_task

    def _step(self, run_id: str, name: str) -> Step:
        step = self.store.get_step(run_id, name)
        if step is None:
            if self.store.get_run(run_id) is None:
                raise NotFoundError(f"no run with id {run_id!r} in {self.store.url}")
            raise NotFoundError(f"run {run_id!r} has no step named {name!r}")
        return step

    def explain(self, run_id: str, name: str) -> dict[str, Any]:
        step = self._step(run_id, name)
        if step.origin is Origin.REPLAYED:
            why = (
                "replayed: it succeeded in an earlier attempt of this run, so it did not run again"
            )
        elif step.origin is Origin.CACHED:
            why = (
                f"served from cache: run {step.source_run!r} computed it with the same code "
                "and arguments"
            )
            if step.reason:  # e.g. how long it waited for that run to compute it
                why += f"; {step.reason}"
        else:
            why = self._why_executed(step)
        return {
            "step": step.name,
            "decision": step.origin.value,
            "why": why,
            "source_run": step.source_run if step.origin is not Origin.EXECUTED else None,
        }

    def _why_executed(self, step: Step) -> str:
        reasons = []
        if step.reason:
            reasons.append(step.reason)
        attempts = step.attempt_records()
        if len(attempts) > 1:
            failed = [a for a in attempts if a.status is Status.FAILED]
            if failed and failed[0].error is not None:
                reasons.append(
                    f"it took {len(attempts)} attempts: attempt {failed[0].number} failed "
                    f"({failed[0].error.type}: {failed[0].error.message})"
                )
        if not step.cache:
            if not step.reason:
                reasons.append(
                    "the task is not cache-enabled (cache=False), and it had no earlier result "
                    "in this run"
                )
            return "; ".join(reasons)
        if not step.reason:
            reasons.append(self._cache_miss(step))
        return "; ".join(reasons)

    def _cache_miss(self, step: Step) -> str:
        if step.execution_id is None:
            return "an argument cannot be hashed, so the step can never be served from cache"
        task = self.store.get_task(step.task_id)
        versions = self.store.tasks_named(task.name) if task is not None else []
        same_code = []
        other_code: list[tuple[TaskRecord, Step]] = []
        for version in versions:
            for earlier in self.store.cached_steps(version.task_id, CANDIDATES):
                if earlier.end_time is None or step.start_time is None:
                    continue
                if earlier.end_time >= step.start_time or (
                    earlier.run_id == step.run_id and (earlier.position == step.position)
                ):
                    continue
                if version.task_id == step.task_id:
                    same_code.append(earlier)
                else:
                    other_code.append((version, earlier))
        if same_code:
            for earlier in same_code:
                difference = argument_difference(earlier, step)
                if difference:
                    return f"no earlier result for these arguments: {difference}"
            return "no earlier result for these arguments"
        if other_code:
            other_code.sort(key=lambda pair: pair[1].end_time or 0.0, reverse=True)
            version, earlier = other_code[0]
            return (
                f"no earlier result for this code: run {earlier.run_id!r} computed it with "
                f"other code: {code_difference(version, task)}"
            )
        return "no earlier result: this task had never succeeded with cache enabled before"

    # -- plans ---------------------------------------------------------------------------------
    def plan_resume(self, run_id: str) -> ResumePlan:
        """What ``resume(run_id)`` would do with each recorded step, and why (the same rule
        as resume: a successful step whose code and arguments are unchanged replays, every
        other step executes or, for a cache-enabled task, may be served from cache)."""
        run = self.store.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run with id {run_id!r} in {self.store.url}")
        steps = iter_steps(self.store, run_id)  # a page at a time: never the whole run
        if effective_status(run) is Status.SUCCESSFUL:
            return ResumePlan(
                {"step": step.name, "decision": "replay", "why": "the run succeeded already"}
                for step in steps
            )
        plan = ResumePlan()
        status = effective_status(run)
        if status is Status.RUNNING:
            plan.notes.append(
                f"run {run_id!r} is RUNNING: resume refuses a live run (cancel it first, or "
                "wait for it); this is what it would do once it has stopped"
            )
        elif status is Status.CANCELED and run.lease_expires is not None:
            plan.notes.append(
                f"run {run_id!r} was canceled; resume waits until its process has finished "
                "the step it was running"
            )
        unjudged: list[str] = []  # the first few, then only counted
        more = 0
        executing: str | None = None
        for step in steps:
            current = self.current_task(step.task_name)
            code = None
            if current is not None and current.task_id != step.task_id:
                code = code_difference(self.store.get_task(step.task_id), current)
            if step.status is Status.SUCCESSFUL and code is None:
                why = "it succeeded in this run"
                if current is None and len(unjudged) < NAMED:
                    unjudged.append(step.name)
                elif current is None:
                    more += 1
                else:
                    why += " and its code is unchanged"
                if executing is not None:
                    why += (
                        f"; it runs again if step {executing!r}, which executes, changes its "
                        "arguments"
                    )
                plan.append({"step": step.name, "decision": "replay", "why": why})
                continue
            if step.status is Status.SUCCESSFUL:
                why = f"{code} since it ran"
            else:
                why = f"the earlier attempt of this run left it {step.status.value}"
                if step.error is not None:
                    why += f" ({step.error.type}: {step.error.message})"
                if code is not None:
                    why += f", and {code}"
            executing = executing or step.name
            task_id = current.task_id if current is not None else step.task_id
            cached = self._cached(current, task_id, step)
            if cached is not None:
                plan.append({"step": step.name, "decision": "cache", "why": f"{why}; {cached}"})
            else:
                plan.append({"step": step.name, "decision": "execute", "why": why})
        if unjudged:
            named = ", ".join(unjudged) + (f" and {more:,} more" if more else "")
            plan.notes.append(
                f"steps {named} replay if their code is unchanged, which cannot be "
                "judged here: their tasks are not defined in this process (reading never "
                "imports user code). Ask from a process that defines the workflow, or resume "
                "with strict=True (flightlog resume --strict) to refuse any change."
            )
        return plan

    def _cached(self, current: TaskRecord | None, task_id: str, step: Step) -> str | None:
        cache_enabled = step.cache or bool(current and current.options.get("cache"))
        if not cache_enabled or step.execution_id is None:
            return None
        hit = self.store.find_cached(task_id, step.execution_id)
        if hit is None:
            return None
        return f"run {hit.run_id!r} has its result for the same code and arguments"

    def plan_run(
        self, workflow: str, arguments: str | None, recorded_runs: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """What a new run of ``workflow`` with these encoded arguments would do, judged on the
        outline of its latest recorded run (a workflow's steps are known only by running it)."""
        if not recorded_runs:
            raise NotFoundError(f"workflow {workflow!r} has no recorded run to take as outline")
        outline = self.store.get_run(recorded_runs[0]["run_id"])
        assert outline is not None
        same_arguments = outline.arguments == arguments or _equal_arguments(
            outline.arguments, arguments
        )
        plan = []
        for step in self.store.list_steps(outline.run_id):
            current = self.current_task(step.task_name)
            task_id = current.task_id if current is not None else step.task_id
            cache_enabled = bool(current.options.get("cache")) if current else step.cache
            if not same_arguments:
                why = (
                    f"the workflow's arguments differ from run {outline.run_id!r}'s, so this "
                    "step's arguments are known only by running it"
                )
                plan.append({"step": step.name, "decision": "execute", "why": why})
                continue
            if not cache_enabled:
                plan.append(
                    {
                        "step": step.name,
                        "decision": "execute",
                        "why": "the task is not cache-enabled (cache=False)",
                    }
                )
                continue
            hit = (
                None
                if step.execution_id is None
                else self.store.find_cached(task_id, step.execution_id)
            )
            if hit is not None:
                why = f"run {hit.run_id!r} has its result for the same code and arguments"
                plan.append({"step": step.name, "decision": "cache", "why": why})
            elif current is not None and current.task_id != step.task_id:
                why = f"{code_difference(self.store.get_task(step.task_id), current)}"
                plan.append({"step": step.name, "decision": "execute", "why": why})
            else:
                why = "no earlier result for these arguments"
                plan.append({"step": step.name, "decision": "execute", "why": why})
        return plan


def _equal_arguments(recorded: str | None, given: str | None) -> bool:
    try:
        old = codec.decode(recorded or "null", placeholders=True)
        return bool(old == codec.decode(given or "null", placeholders=True))
    except FlightlogError:
        return False
