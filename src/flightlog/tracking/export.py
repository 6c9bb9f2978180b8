"""Export of runs already recorded: their record told to trackers as if they ran now.

A run is replayed in the order a live run tells its trackers: ``track_run`` (as it started),
then each step in call order with its metrics and attachments, what the run's own body
tracked, and ``track_run`` with its outcome. A tracker's error propagates (nothing is hidden
in an export).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import NotFoundError
from ..stores import Store
from .notify import TrackerNotifier
from .trackers import Tracker


def export_runs(store: Store, run_ids: Iterable[str], trackers: Sequence[Tracker]) -> list[str]:
    """Tell the trackers what each run recorded; return the run ids exported."""
    wanted = list(run_ids)
    runs = []
    for run_id in wanted:  # every run id is checked before anything is sent
        run = store.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run with id {run_id!r} in {store.url}")
        runs.append(run)
    notifier = TrackerNotifier(trackers, strict=True)
    for run in runs:
        chunks = store.list_metrics(run.run_id)
        files = store.list_attachments(run.run_id)
        notifier.run_started(store, run)
        for step in store.list_steps(run.run_id):
            notifier.step_ended(
                store,
                step,
                [chunk for chunk in chunks if chunk.position == step.position],
                [item for item in files if item.position == step.position],
            )
        notifier.body_tracked(
            store,
            run.run_id,
            [chunk for chunk in chunks if chunk.position is None],
            [item for item in files if item.position is None],
        )
        notifier.run_ended(store, run)
    return wanted
