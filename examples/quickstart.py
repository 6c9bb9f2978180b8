"""A small real pipeline, recorded by flightlog into the default store (.flightlog/ here).

It counts the words of a few texts: one step per text to tokenize, one to count, a flaky
step that succeeds on its second attempt, and a final merge. Then it shows, through the
``flightlog`` command line, what was recorded.
"""

import logging
import random
import subprocess
import sys
from collections import Counter

import flightlog

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("quickstart")

fl = flightlog.open()

TEXTS = {
    "intro": "a flight recorder records every step of every run of a workflow",
    "resume": "a failed run resumes where it stopped and finished work is never redone",
    "query": "anyone can see what happened from python the command line or a web page",
}


@fl.task
def tokenize(name: str, text: str) -> list[str]:
    words = text.lower().split()
    log.info("%s: %d words", name, len(words))
    flightlog.track(words=len(words))  # a metric, recorded with the step
    return words


@fl.task(metadata={"kind": "reduce"})
def count(words: list[str]) -> dict[str, int]:
    return dict(Counter(words))


attempts = {"publish": 0}


@fl.task(retries=2)
def publish(totals: dict[str, int]) -> list[tuple[str, int]]:
    attempts["publish"] += 1
    if attempts["publish"] == 1:
        raise ConnectionError("the (pretend) report server did not answer; retrying")
    top = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:5]
    print("top words:", ", ".join(f"{word}={n}" for word, n in top))
    return top


@fl.workflow
def word_count(texts: dict[str, str]) -> list[tuple[str, int]]:
    totals: Counter[str] = Counter()
    for name, text in texts.items():
        totals.update(count(tokenize(name, text)))
    return publish(dict(totals))


if __name__ == "__main__":
    run_id = f"quickstart-{random.randrange(16**6):06x}"
    top = word_count.run(TEXTS, run_id=run_id, tag="demo", metadata={"source": "quickstart"})
    print(f"\nrun {run_id} returned {top}\n")
    cli = [sys.executable, "-m", "flightlog"]
    subprocess.run([*cli, "runs", "--limit", "5"], check=True)
    print()
    subprocess.run([*cli, "show", run_id], check=True)
