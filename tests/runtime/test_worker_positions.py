"""Positions of steps that record their sub-steps in their workers (record="worker")."""

from __future__ import annotations

import pytest

from flightlog import ConfigurationError
from flightlog.model import Step
from flightlog.runtime import state as state_module
from flightlog.runtime.state import WORKER_BLOCKS_BASE, RunState, next_worker_block, worker_block
from flightlog.stores import open_store


def test_a_worker_block_ends_with_an_error_that_names_the_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state_module, "WORKER_BLOCK", 3)
    positions = worker_block(WORKER_BLOCKS_BASE, "score_7")
    assert [next(positions) for _ in range(3)] == [
        WORKER_BLOCKS_BASE,
        WORKER_BLOCKS_BASE + 1,
        WORKER_BLOCKS_BASE + 2,
    ]
    with pytest.raises(ConfigurationError, match=r"step 'score_7' made more than 3 sub-steps"):
        next(positions)
    # A step that goes on calling sub-steps (it caught the error) gets the same error again,
    # not a bare StopIteration (a RuntimeError inside a generator expression).
    with pytest.raises(ConfigurationError, match=r"step 'score_7' made more than 3 sub-steps"):
        sum(1 for _ in [next(positions)])


def test_the_last_worker_block_ends_below_two_to_the_32() -> None:
    blocks = iter([state_module.WORKER_BLOCKS - 1, state_module.WORKER_BLOCKS])
    last = next_worker_block(blocks)
    # A step's row id in the SQL stores is its run's number * 2**32 + its position.
    assert last + state_module.WORKER_BLOCK == 1 << 32
    with pytest.raises(ConfigurationError, match=r"may submit at most 524,288 steps"):
        next_worker_block(blocks)


def _step(name: str, position: int) -> Step:
    return Step("r", name, position, "t", "tid", "eid")


def test_a_resumed_run_gives_the_driver_positions_below_the_workers_blocks() -> None:
    store = open_store("memory://")
    try:
        state = RunState(store=store, run_id="r")
        recorded = [_step("a", 0), _step("b", 1), _step("b.c", WORKER_BLOCKS_BASE + 5)]
        state.resume_from(recorded)
        # The driver's next step follows its own, not the worker's sub-step (which would put
        # later driver steps into the next worker block).
        assert next(state.positions) == 2
        assert next(state.worker_blocks) == 1
    finally:
        store.close()
