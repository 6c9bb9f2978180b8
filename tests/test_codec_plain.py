"""``codec_plain.decode_plain``: plain JSON decoded at the least cost, anything else left to
``decode``; and listing a run leaves the garbage collector as it found it."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import flightlog
from flightlog import codec
from flightlog.codec_plain import NOT_PLAIN, decode_plain

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
typed_values = st.sets(st.integers(), max_size=3) | st.binary(max_size=8) | st.tuples(st.integers())


@given(json_values | typed_values)
def test_plain_text_decodes_as_decode_does_and_other_text_is_left_alone(value: Any) -> None:
    text = codec.encode(value)
    found = decode_plain(text)
    if found is NOT_PLAIN:
        assert '"__flightlog__"' in text
    else:
        assert found == codec.decode(text)
        assert type(found) is type(codec.decode(text))


def test_text_that_is_not_one_json_value_is_not_plain() -> None:
    for text in ("", "{", "[1,", "1 2", " 1", "nope"):
        assert decode_plain(text) is NOT_PLAIN


def test_listing_steps_leaves_the_collector_as_it_was(tmp_path: Path) -> None:
    with flightlog.open(f"sqlite:///{tmp_path}/store.db") as fl:

        @fl.task
        def add(left: int) -> int:
            return left + 1

        @fl.workflow
        def flow() -> int:
            return add(1) + add(2)

        flow.run(run_id="r")
        assert gc.isenabled()
        assert [step["arguments"] for step in fl.steps("r")] == [{"left": 1}, {"left": 2}]
        assert gc.isenabled()
        gc.disable()
        try:
            assert len(fl.steps("r")) == 2
            assert not gc.isenabled()
        finally:
            gc.enable()
