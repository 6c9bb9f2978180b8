"""What tasks and workflows share, and the decision whether a step executes or is served from
an earlier record: replayed from this run's earlier attempt, or served from the cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import NondeterminismError
from ..model import Origin, Status, Step
from .state import MISSING

if TYPE_CHECKING:
    from ..stores import Store
    from .steps import StepCall
    from .task import Task
    from .tracked import RunHooks


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        serializer: str = "json",
        allow_pickle: bool = False,
        allow_imports: codec.Imports = False,
        hooks: RunHooks | None = None,
    ):
        self.store = store
        self.serializer = serializer
        self.allow_pickle = allow_pickle or serializer == "pickle"
        # Which modules decoding a recorded value may import (besides those imported already).
        self.allow_imports = allow_imports
        # The tracking layer's hooks, given to every run this recorder starts or resumes.
        self.hooks = hooks

    def serve(self, task: Task[Any], call: StepCall) -> Any:
        """The value of a step served from an earlier record, or MISSING when it must run."""
        try:
            return self._serve(task, call)
        except BaseException:
            call.state.in_flight.pop(call.step.position, None)
            raise

    def _serve(self, task: Task[Any], call: StepCall) -> Any:
        state = call.state
        step = call.step
        pickled_ok = state.allow_pickle or task.config.serializer == "pickle"
        recorded = state.recorded.pop(step.position, None) if state.recorded else None
        if recorded is not None:
            if (recorded.name, recorded.task_id, recorded.execution_id) != (
                step.name,
                step.task_id,
                step.execution_id,
            ):
                if not state.rerun_changed:
                    raise NondeterminismError(_mismatch(recorded, step))
                state.recorded.clear()  # from here on, everything runs again
                step.reason = (
                    "resumed with rerun_changed=True, and "
                    + _mismatch_parts(recorded, step)
                    + " since the earlier attempt of this run"
                )
            elif recorded.status is Status.SUCCESSFUL:
                value = self.decode(recorded.result, pickled_ok)
                state.skip_subtree(recorded)
                return call.replay(recorded, value)
            else:
                step.reason = f"the earlier attempt of this run left it {recorded.status.value}" + (
                    f" ({recorded.error.type}: {recorded.error.message})" if recorded.error else ""
                )
        options = call.call
        if options.cache and not options.recompute and step.execution_id is not None:
            hit = state.store.find_cached(step.task_id, step.execution_id)
            if hit is not None:
                value = self.decode(hit.result, pickled_ok)
                return call.finish_from(Origin.CACHED, hit, value)
        return MISSING

    def decode(self, text: str | None, allow_pickle: bool) -> Any:
        """A recorded value given back to running code: a class that is not imported here
        (and not allowed) is an error saying how to allow it, never a placeholder."""
        return codec.decode(
            text or "null", allow_pickle=allow_pickle, allow_imports=self.allow_imports
        )


def _mismatch_parts(recorded: Step, step: Step) -> str:
    parts = []
    if recorded.name != step.name:
        parts.append(f"the step there was {recorded.name!r}, now it is {step.name!r}")
    if recorded.task_id != step.task_id:
        parts.append(f"task_id was {recorded.task_id}, now {step.task_id}")
    if recorded.execution_id != step.execution_id:
        parts.append(f"execution_id was {recorded.execution_id}, now {step.execution_id}")
    return "; ".join(parts)


def _mismatch(recorded: Step, step: Step) -> str:
    return (
        f"run {step.run_id!r}: resumed code reached step {step.name!r} (position "
        f"{step.position}) with other identities than recorded: "
        f"{_mismatch_parts(recorded, step)}. The "
        "workflow is not deterministic, or its code changed; resume with rerun_changed=True to "
        "re-execute from this step on"
    )
