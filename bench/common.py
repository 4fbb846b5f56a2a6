"""Shared pieces of the benchmarks: the results table (databases, environment, child processes
and serving are in bench/harness.py).

Each benchmark is a module `bench/<name>.py` with `run() -> list[Result]`; `python -m bench.run`
(what `make bench` calls) runs them all in one process tree and writes bench/results/RESULTS.md.
Benchmarks measure side by side with the tool a user would otherwise pick, in the same run, and
report ratios: the machines are shared and noisy, so absolute numbers are for orientation.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    """One measured figure, with its target and (where there is one) the baseline beside it."""

    benchmark: str
    metric: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    baseline: str = ""
    note: str = ""

    def row(self) -> str:
        met = {True: "yes", False: "**NO**", None: "-"}[self.met]
        return (
            f"| {self.benchmark} | {self.metric} | {self.value:,.2f} {self.unit} | "
            f"{self.target or '-'} | {met} | {self.baseline or '-'} | {self.note} |"
        )


HEADER = (
    "| benchmark | metric | value | target | met | baseline (same run) | note |\n"
    "|---|---|---:|---|---|---|---|"
)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then t[0] is the elapsed wall time in seconds."""
    elapsed: list[float] = []
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append(time.perf_counter() - start)
