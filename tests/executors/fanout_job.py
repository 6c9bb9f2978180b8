"""A workflow that fans out, run as a script by the executor tests:
``python fanout_job.py URL EXECUTOR RUN_ID MODE [N]``.

Modes: ``plain`` (N steps through map and submit, with sub-steps), ``failing`` (items listed in
$FANOUT_FAIL fail), ``slow`` (each step sleeps 0.2 s and tells it started, in $FANOUT_MARKS),
``die`` (the step of item 1 kills its worker once; the task has retries=1), ``resources``
(each step fetches a resource of the collection "cubes" in its worker).
"""

from __future__ import annotations

import os
import sys
import time

import flightlog

URL, EXECUTOR, RUN_ID, MODE = sys.argv[1:5]
COUNT = int(sys.argv[5]) if len(sys.argv) > 5 else 200
MARKS = os.environ.get("FANOUT_MARKS")

fl = flightlog.open(URL, executor=EXECUTOR, record=os.environ.get("FANOUT_RECORD", "driver"))


@fl.task
def double(x: int) -> int:
    return 2 * x


@fl.task
def score(x: int) -> int:
    print(f"scoring {x}")
    if MODE == "failing" and str(x) in os.environ.get("FANOUT_FAIL", "").split(","):
        raise ValueError(f"item {x} is bad")
    if MODE in ("slow", "cancel"):
        if MARKS:
            with open(MARKS, "a") as marks:
                marks.write(f"{x}\n")
        time.sleep(0.2)
    return double(x) + 1


@fl.task(retries=1)
def fragile(x: int) -> int:
    marker = f"{MARKS}.died"
    if x == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)  # the worker dies mid-step
    return x * 10


@fl.task
def fragile_once(x: int) -> int:
    """No retries: the worker of item 1 dies once, and takes the pool's other steps with it."""
    marker = f"{MARKS}.died"
    if x == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)
    time.sleep(0.2)
    return x * 10


@fl.task(cache=True)
def embed(x: int) -> int:
    with open(f"{MARKS}.computed", "a") as marks:
        marks.write(f"{x}\n")
    time.sleep(0.3)
    return x + 1000


@fl.resource("cubes")
def cube(ident: str, args: dict[str, int], ctx: object) -> int:
    return int(args["x"]) ** 3


@fl.task
def cube_of(x: int) -> int:
    return int(fl.fetch("cubes", f"c{x}", args={"x": x}).result)


def _cancel_when_started() -> None:
    """Cancel the run once two steps have started (mode "cancel")."""
    from pathlib import Path

    while not (MARKS and Path(MARKS).exists() and len(Path(MARKS).read_text().split()) >= 2):
        time.sleep(0.02)
    fl.cancel(RUN_ID)


@fl.workflow
def fan(count: int) -> int:
    if MODE == "cancel":
        import threading

        threading.Thread(target=_cancel_when_started, daemon=True).start()
        return sum(score.map(range(count)))
    if MODE == "samekey":
        return sum(embed.map([7, 8] * (count // 2)))
    if MODE == "die":
        return sum(fragile.map(range(4)))
    if MODE == "resources":
        return sum(cube_of.map(range(count)))
    if MODE == "die-once":
        return sum(fragile_once.map(range(4)))
    futures = [score.submit(x) for x in range(count // 2)]
    rest = score.map(range(count // 2, count))
    return sum(f.result() for f in futures) + sum(rest)


if __name__ == "__main__":
    batches: list[int] = []
    finish_steps = fl.store.finish_steps
    fl.store.finish_steps = lambda finished: (  # type: ignore[method-assign]
        batches.append(len(finished)),
        finish_steps(finished),
    )[1]
    try:
        print("result", fan.run(COUNT, run_id=RUN_ID))
        print("driver batches", len(batches))
    except Exception as error:
        print("failed", type(error).__name__, error)
        sys.exit(3)
