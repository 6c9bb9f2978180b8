"""Clearing cached results: of a task (every version, or one), or of every task."""

from __future__ import annotations

from ..errors import InvalidInputError, NotFoundError
from ..redaction import redact
from ..stores import Store


def _every_task(store: Store) -> list[str]:
    """The task ids of every step of every run (reads every run's steps)."""
    found: dict[str, None] = {}
    for run in store.list_runs():
        for step in store.list_steps(run.run_id):
            if step.cache:
                found.setdefault(step.task_id)
    return list(found)


def clear_cache(
    store: Store,
    task: str | None = None,
    *,
    version: str | None = None,
    task_id: str | None = None,
) -> dict[str, int]:
    """Stop serving the cached results recorded so far (see ``Store.clear_cache``) of the
    task named ``task`` (every version; only the one whose ``version`` is given, or whose
    task id starts with it), of the task version ``task_id``, or of every task when neither
    is given. Returns how many results were cleared per task id. The runs keep their steps;
    the next call of a cleared task computes again."""
    for what, given in (("task", task), ("version", version), ("task_id", task_id)):
        if given is not None and (not isinstance(given, str) or not given):
            raise InvalidInputError(f"{what} must be a non-empty str (a name), not {given!r}")
    if task_id is not None:
        if task is not None or version is not None:
            raise InvalidInputError("give a task name (and version) or a task_id, not both")
        if store.get_task(task_id) is None:
            raise NotFoundError(f"no task version {task_id!r} in {redact(store.url)}")
        return {task_id: store.clear_cache(task_id)}
    if task is None:
        if version is not None:
            raise InvalidInputError("a version needs the task's name")
        return {found: store.clear_cache(found) for found in _every_task(store)}
    versions = store.tasks_named(task)
    if not versions:
        raise NotFoundError(f"no task named {task!r} in {redact(store.url)}")
    if version is not None:
        versions = [
            record
            for record in versions
            if record.version == version or record.task_id.startswith(version)
        ]
        if not versions:
            raise NotFoundError(f"task {task!r} has no version {version!r} in {redact(store.url)}")
    return {record.task_id: store.clear_cache(record.task_id) for record in versions}
