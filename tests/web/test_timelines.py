"""The packed timeline (what the run page's script unpacks) holds the same columns, and a
finished run's is kept while a running run's is read afresh; script and style are
fingerprinted and cached for good."""

from __future__ import annotations

import gzip
import http.client
import json
import re
from itertools import accumulate
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import flightlog
from flightlog.web.assets import fingerprint
from flightlog.web.timelines import Timelines, pack

from .conftest import Server
from .test_security import request


def unpack(packed: dict[str, Any]) -> dict[str, Any]:
    """What app.js's ``unpack`` does, written again in Python."""
    names, previous = [], ""
    for shared, tail in zip(packed["name_shared"], packed["name_tail"], strict=True):
        previous = previous[:shared] + tail
        names.append(previous)
    starts, last = [], 0
    for value in packed["start"]:
        if value is not None:
            last += value
        starts.append(None if value is None else last)
    stops = [
        None if stop is None else stop + (start or 0)
        for start, stop in zip(starts, packed["stop"], strict=True)
    ]
    found = dict(packed, names=names, start=starts, stop=stops)
    for key in packed["runs"]:
        runs = packed[key]
        found[key] = [runs[k] for k in range(0, len(runs), 2) for _ in range(runs[k + 1])]
    for key in ("name_shared", "name_tail", "packed", "runs"):
        del found[key]
    return found


def columns(count: int) -> dict[str, Any]:
    names = ["load", "load_1", "<b>x</b>", "step_9", "step_10", "step_11", "", "ab", "a"]
    names = (names * (count // len(names) + 1))[:count]
    return {
        "run_id": "r",
        "status": "FAILED",
        "count": count,
        "names": names,
        "start": [None if i % 7 == 3 else i * 10 for i in range(count)],
        "stop": [None if i % 5 == 1 else i * 10 + 4 for i in range(count)],
        "status_of": [2] * (count - 1) + [3],
        "origin_of": [0] * (count // 2) + [1] * (count - count // 2),
        "failed": [0] * (count - 1) + [1],
        "parents": [-1, 0, 0, -1] * (count // 4) + [-1] * (count % 4),
        "task": list(accumulate([0] * count)),
    }


def test_packing_round_trips_and_is_smaller() -> None:
    original = columns(1_000)
    packed = pack(original)
    assert unpack(packed) == original
    assert unpack(pack(columns(0))) == columns(0)
    regular = dict(
        original,
        names=[f"step_{i}" for i in range(1_000)],
        start=[i * 2_000 for i in range(1_000)],
        stop=[i * 2_000 + 8_000 for i in range(1_000)],
        parents=[-1] * 1_000,
    )
    assert unpack(pack(regular)) == regular
    assert len(json.dumps(pack(regular))) < len(json.dumps(regular)) / 2


def test_finished_runs_are_kept_running_runs_are_not(tmp_path: Any) -> None:
    with flightlog.open(f"sqlite:///{tmp_path}/t.db") as fl:

        @fl.task
        def step(x: int) -> int:
            return x

        @fl.workflow
        def flow(n: int) -> int:
            return sum(step(i) for i in range(n))

        flow.run(3, run_id="done")
        timelines = Timelines(kept=1)
        run = fl.get_metadata("done")
        first = timelines.text(fl, run)
        assert timelines.text(fl, run) is first
        assert timelines.outline(fl, run).names == ["step", "step_1", "step_2"]
        running = dict(run, status="RUNNING")
        assert timelines.text(fl, running) is not first
        flow.run(2, run_id="other")
        timelines.text(fl, fl.get_metadata("other"))
        assert timelines.text(fl, run) is not first  # only one kept


def test_script_and_style_are_fingerprinted_and_kept_for_good(sqlite_url: str) -> None:
    with flightlog.open(sqlite_url) as fl, Server(fl) as server:
        page = request(server, "/")[2]
        links = re.findall(r'"/static/(app\.js|style\.css)\?v=([0-9a-f]{12})"', page)
        assert sorted(name for name, _ in links) == ["app.js", "style.css"]
        version = links[0][1]
        assert version == fingerprint()
        status, headers, _ = request(server, f"/static/app.js?v={version}")
        assert status == 200 and "immutable" in headers["cache-control"]
        status, headers, _ = request(server, "/static/app.js?v=000000000000")
        assert status == 200 and "immutable" not in headers.get("cache-control", "")
        assert "etag" in headers  # an old or missing fingerprint is revalidated


@given(st.lists(st.text(alphabet="ab_1<é", max_size=8), max_size=40))
def test_any_names_round_trip(names: list[str]) -> None:
    original = dict(columns(len(names)), names=names)
    assert unpack(pack(original))["names"] == names


def test_a_finished_runs_timeline_is_sent_compressed_once_made(sqlite_url: str) -> None:
    with flightlog.open(sqlite_url) as fl:

        @fl.task
        def step(x: int) -> int:
            return x

        @fl.workflow
        def flow(n: int) -> int:
            return sum(step(i) for i in range(n))

        flow.run(300, run_id="done")
        with Server(fl) as server:
            plain = request(server, "/api/runs/done/timeline")
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request(
                "GET", "/api/runs/done/timeline", headers={"Accept-Encoding": "gzip"}
            )
            response = connection.getresponse()
            assert response.getheader("content-encoding") == "gzip"
            body = gzip.decompress(response.read())
            connection.close()
            assert json.loads(body) == json.loads(plain[2])
            assert len(unpack(json.loads(body))["names"]) == 300
            page = request(server, "/runs/done")[2]
            assert 'rel="preload" href="/api/runs/done/timeline"' in page
