"""``flightlog metrics``, ``flightlog compare`` and ``flightlog export``: tracked values on the
command line, each a thin face over one ``Flightlog`` method."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any, TextIO

from . import client
from .cli_output import dump, printable, table
from .errors import FlightlogError

EXPORT_TARGETS = ("mlflow",)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def tracked_summary(fl: client.Flightlog, run_id: str) -> dict[str | None, list[str]]:
    """Per step name (None: the workflow's own body), lines saying what it tracked: each
    metric's last value and number of points, and the files it attached (raw: the renderer
    makes them printable)."""
    try:
        points = fl.metrics(run_id)
        files = fl.attachments(run_id)
    except FlightlogError:  # not a run that tracks (e.g. a resource collection)
        return {}
    series: dict[str | None, dict[str, list[Any]]] = {}
    for point in points:  # by name, then step: the last one seen is the last value
        seen = series.setdefault(point["task_step"], {}).setdefault(point["name"], [0, None])
        seen[0] += 1
        seen[1] = point["value"]
    lines: dict[str | None, list[str]] = {}
    for step, metrics in series.items():
        shown = (
            f"{name}={_text(value)[:40]}" + (f" ({count} points)" if count > 1 else "")
            for name, (count, value) in metrics.items()
        )
        lines.setdefault(step, []).append("metrics " + "  ".join(shown))
    for item in files:
        lines.setdefault(item["step"], []).append(f"attached {item['name']} ({item['size']} bytes)")
    return lines


def command_metrics(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    points = fl.metrics(args.run_id, args.name)
    if args.json:
        return dump(points, out)
    if not points:
        out.write(f"run {printable(args.run_id)} tracked no metrics\n")
        return None
    rows = [["NAME", "STEP", "VALUE", "TASK STEP", "TIME"]]
    for point in points:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(point["time"]))
        rows.append(
            [point["name"], str(point["step"]), _text(point["value"]), point["task_step"] or "-",
             when]
        )  # fmt: skip
    table(rows, out)
    return None


def command_compare(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    compared = fl.compare(args.run_ids, args.metric)
    if args.json:
        return dump(compared, out)
    names = sorted({name for values in compared.values() for name in values})
    rows = [["RUN ID", *names]]
    for run_id, values in compared.items():
        rows.append([run_id, *(_text(values[name]) if name in values else "-" for name in names)])
    table(rows, out)
    return None


def command_export(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    from .trackers import MLflowTracker

    tracker = MLflowTracker(tracking_uri=args.tracking_uri, experiment=args.experiment)
    try:
        exported = fl.export(args.run_ids, tracker)
    finally:
        tracker.close()
    if args.json:
        return dump({"target": args.target, "exported": exported}, out)
    for run_id in exported:
        out.write(f"exported run {printable(run_id)} to {args.target}\n")
    return None


COMMANDS: dict[str, Callable[[client.Flightlog, argparse.Namespace, TextIO], None]] = {
    "metrics": command_metrics,
    "compare": command_compare,
    "export": command_export,
}


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    metrics = commands.add_parser(
        "metrics", parents=[common], help="the metric points a run tracked"
    )
    metrics.add_argument("run_id", metavar="RUN_ID")
    metrics.add_argument("--name", help="only the points of this metric")
    compare = commands.add_parser(
        "compare", parents=[common], help="the last value of each metric, run beside run"
    )
    compare.add_argument("run_ids", metavar="RUN_ID", nargs="+")
    compare.add_argument(
        "--metric", action="append", help="only this metric (may be given several times)"
    )
    export = commands.add_parser(
        "export", parents=[common], help="send recorded runs to another system (mlflow)"
    )
    export.add_argument("target", choices=EXPORT_TARGETS, metavar="TARGET", help="mlflow")
    export.add_argument("run_ids", metavar="RUN_ID", nargs="+")
    export.add_argument("--tracking-uri", help="the MLflow tracking URI (default: MLflow's)")
    export.add_argument(
        "--experiment", help="the MLflow experiment (default: the run's tag, else its workflow)"
    )
