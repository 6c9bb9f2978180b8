"""Clearing cached results: of a task (every version, or one), or of every task."""

from __future__ import annotations

from ..errors import InvalidInputError, NotFoundError
from ..model import ResourceStatus
from ..redaction import redact
from ..runtime.cache_claims import collection_of
from ..stores import Store


def _clear(store: Store, task_id: str) -> int:
    """Clear the task version's cached results, and the records of the claims that made one
    computation per key (those let go: a claim held now stays)."""
    cleared = store.clear_cache(task_id)
    collection = collection_of(task_id)
    for record in store.list_resources(collection):
        if record.status is not ResourceStatus.PENDING:
            store.delete_resource(collection, record.ident, attempt=record.attempt)
    return cleared


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
        return {task_id: _clear(store, task_id)}
    if task is None:
        if version is not None:
            raise InvalidInputError("a version needs the task's name")
        return {found: _clear(store, found) for found in _every_task(store)}
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
    return {record.task_id: _clear(store, record.task_id) for record in versions}
