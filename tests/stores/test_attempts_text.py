"""A step's attempts as JSON: the quick text of one attempt is json's own."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from flightlog.model import Attempt, ErrorInfo, Status, Step
from flightlog.stores.sql import attempts_text

times = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**12), 10**12)


@given(
    number=st.integers(1, 10**6),
    start=times,
    end=st.none() | times,
    status=st.sampled_from(list(Status)),
    failed=st.booleans(),
)
def test_one_attempt_is_written_as_json_writes_it(
    number: int, start: float, end: float | None, status: Status, failed: bool
) -> None:
    error = ErrorInfo("ValueError", 'bad "input"', "trace") if failed else None
    attempt = Attempt(number, start, end, status, error)
    step = Step("run", "add", 0, "add", "t" * 32, attempts=[attempt])
    assert attempts_text(step) == json.dumps([attempt.to_dict()], separators=(",", ":"))


def test_no_attempts_are_no_text_and_many_are_json() -> None:
    assert attempts_text(Step("run", "add", 0, "add", "t")) is None
    attempts = [Attempt(1, 1.0, 2.0, Status.FAILED), Attempt(2, 2.5, 3.0, Status.SUCCESSFUL)]
    step = Step("run", "add", 0, "add", "t", attempts=attempts)
    assert json.loads(attempts_text(step) or "") == [a.to_dict() for a in attempts]
