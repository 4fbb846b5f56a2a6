"""Run every benchmark (or those named on the command line) and write the results table."""

import importlib
import platform
import sys
import time
from datetime import UTC, datetime

from bench.common import HEADER, RESULTS_DIR

# Module names under bench/, in the order they run.
BENCHMARKS = ["bulk_import", "live_intake", "public_map", "vrp", "routes", "dispatch", "hotspots"]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    rows: list[str] = []
    failed = False
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        for result in module.run():
            print(result.row(), flush=True)
            rows.append(result.row())
            failed |= result.met is False
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"# Benchmark results\n\n{stamp} on {platform.node()} "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}\n\n"
        + HEADER
        + "\n"
        + "\n".join(rows)
        + "\n"
    )
    path = RESULTS_DIR / ("RESULTS.md" if not argv else f"RESULTS-{'-'.join(names)}.md")
    path.write_text(text)
    print(f"wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
