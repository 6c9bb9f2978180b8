"""What tasks and workflows share: the store, serialization choices, and the decision whether a
step executes or is served from an earlier record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import codec
from ..model import Origin
from .state import MISSING

if TYPE_CHECKING:
    from ..stores import Store
    from .steps import StepCall
    from .task import Task


class Recorder:
    def __init__(self, store: Store, *, serializer: str = "json", allow_pickle: bool = False):
        self.store = store
        self.serializer = serializer
        self.allow_pickle = allow_pickle or serializer == "pickle"

    def decode(self, text: str | None, *, pickled_ok: bool = False) -> Any:
        if text is None:
            return None
        return codec.decode(text, allow_pickle=self.allow_pickle or pickled_ok)

    def serve(self, task: Task[Any], call: StepCall) -> Any:
        """The value of a step served from cache, or MISSING when it must execute."""
        options = call.call
        step = call.step
        if options.cache and not options.recompute and step.execution_id is not None:
            hit = self.store.find_cached(step.task_id, step.execution_id)
            if hit is not None:
                value = self.decode(hit.result, pickled_ok=task.config.serializer == "pickle")
                return call.finish_from(Origin.CACHED, hit, value)
        return MISSING
