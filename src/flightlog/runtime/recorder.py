"""What tasks and workflows share, and the decision whether a step executes or is served from
an earlier record: replayed from this run's earlier attempt, or served from the cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import NondeterminismError
from ..executors import resolve_executor
from ..model import Origin, Status, Step
from . import cache_claims, hits
from .differences import argument_difference, code_difference
from .fanout import check_record
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
        executor: Any = None,
        record: str = "driver",
    ):
        self.store = store
        # Where submitted steps run by default (see flightlog.executors): as given, and made.
        self.executor_spec = executor
        self.executor = resolve_executor(executor)
        # Where remote steps are recorded: "driver" (default) or "worker" (a shared store).
        self.record_in_worker = check_record(record, store)
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
        recorded = state.recorded.pop(step.name, None) if state.recorded else None
        if recorded is not None:
            same = (recorded.task_id, recorded.execution_id) == (step.task_id, step.execution_id)
            if same and recorded.status is Status.SUCCESSFUL:
                value = self.decode(recorded.result, pickled_ok)
                state.skip_subtree(recorded)
                return call.replay(recorded, value)
            change = None if same else _change(state.store, task, recorded, step)
            if change is not None and state.strict:
                raise NondeterminismError(
                    f"run {step.run_id!r}: resumed with strict=True, and step {step.name!r} "
                    f"changed since the earlier attempt of this run: {change}"
                )
            call.continue_from(recorded)
            if recorded.status is Status.SUCCESSFUL:
                step.reason = f"{change} since the earlier attempt of this run"
            else:
                step.reason = f"the earlier attempt of this run left it {recorded.status.value}" + (
                    f" ({recorded.error.type}: {recorded.error.message})" if recorded.error else ""
                )
                if change is not None:
                    step.reason += f", and {change}"
        options = call.call
        if options.cache and not options.recompute and step.execution_id is not None:
            hit = state.store.find_cached(step.task_id, step.execution_id)
            if hit is not None:
                value = hits.served(state.store, hit, self._decoder(pickled_ok))
                if value is not MISSING:
                    return call.finish_from(Origin.CACHED, hit, value)
                step.reason = hits.gone(hit)  # a miss: its large values were deleted
            if not task.is_async:  # an async step waits in its coroutine: see serve_async
                # One computation per cache key: wait while another step computes it.
                return cache_claims.acquire(call, self._decoder(pickled_ok))
        return MISSING

    async def serve_async(self, task: Task[Any], call: StepCall) -> Any:
        """For an async step that :meth:`serve` left to run: wait (without blocking the event
        loop) while another step computes its cache key, and the value served from it; or
        MISSING when the step must run (holding the key's claim, when it is cache-enabled:
        ``cache_claims.release`` lets go of it at the step's end)."""
        options = call.call
        if not options.cache or options.recompute or call.step.execution_id is None:
            return MISSING
        pickled_ok = call.state.allow_pickle or task.config.serializer == "pickle"
        try:
            return await cache_claims.acquire_async(call, self._decoder(pickled_ok))
        except BaseException:
            call.state.in_flight.pop(call.step.position, None)
            raise

    def _decoder(self, allow_pickle: bool) -> Callable[[str | None], Any]:
        return lambda text: self.decode(text, allow_pickle)

    def decode(self, text: str | None, allow_pickle: bool) -> Any:
        """A recorded value given back to running code: a class that is not imported here
        (and not allowed) is an error saying how to allow it, never a placeholder."""
        return codec.decode(
            text or "null", allow_pickle=allow_pickle, allow_imports=self.allow_imports
        )


def _change(store: Store, task: Task[Any], recorded: Step, step: Step) -> str:
    """What changed in a step since the run recorded it: its code, its arguments, in words."""
    parts = []
    if recorded.task_id != step.task_id:
        parts.append(code_difference(store.get_task(recorded.task_id), task.record()))
    if recorded.execution_id != step.execution_id:
        difference = argument_difference(recorded, step, where="then")
        parts.append(
            f"its arguments changed ({difference})" if difference else "its arguments changed"
        )
    return " and ".join(parts)
