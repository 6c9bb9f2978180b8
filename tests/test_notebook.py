"""Runs, steps and run lists show as HTML tables in a notebook, escaped, and stay the plain
lists and dicts they were."""

from __future__ import annotations

import json

import flightlog


def test_runs_steps_and_metadata_render_as_escaped_tables() -> None:
    fl = flightlog.open("memory://")

    @fl.task
    def shout(text: str) -> str:
        return text.upper()

    @fl.workflow
    def pipeline(text: str) -> str:
        return shout(text)

    pipeline.run("<script>alert(1)</script>", run_id="r<b>1", tag="t&t")
    runs = fl.list_runs()
    page = runs._repr_html_()  # type: ignore[attr-defined]
    assert page.startswith("<table>") and "r&lt;b&gt;1" in page and "t&amp;t" in page
    assert "<b>" not in page
    assert runs == [dict(run) for run in runs] and json.loads(json.dumps(runs)) == runs
    steps = fl.steps("r<b>1", results=True)
    page = steps._repr_html_()  # type: ignore[attr-defined]
    assert "&lt;SCRIPT&gt;ALERT(1)&lt;/SCRIPT&gt;" in page and "<script>" not in page
    assert "SUCCESSFUL" in page
    run = fl.get_metadata("r<b>1")
    assert "run_id" in run._repr_html_()  # type: ignore[attr-defined]
    assert isinstance(run, dict) and run["status"] == "SUCCESSFUL"
    step = fl.get_metadata("r<b>1", "shout")
    assert "shout" in step._repr_html_()  # type: ignore[attr-defined]
