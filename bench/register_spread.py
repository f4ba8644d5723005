"""The register's skewed spread of URLs alone, shorter than the whole bench (about 2 minutes).

    .venv/bin/python bench/register_spread.py                 # PostgreSQL and SQLite
    .venv/bin/python bench/register_spread.py --only postgresql --runs 3

Uses the databases `bench/register_bench.py` builds (run it once first) and its `spread()`,
`serve()` and `wrk` Lua script: `portal serve` with 2 workers, 30 s of traffic to fill the page
cache as a site's would, then the bare endpoint through the same Lua script and the spread,
measured side by side in the same server. Prints one line per run.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import register_bench as bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--warm", type=int, default=30, help="seconds of traffic first")
    parser.add_argument("--duration", type=int, default=16, help="seconds measured")
    args = parser.parse_args()
    targets = {"postgresql": bench.PG_URL, "sqlite": f"sqlite:///{bench.SQLITE_PATH}"}
    if args.only:
        targets = {args.only: targets[args.only]}
    urls = bench.spread(random.Random(7))
    for name, url in targets.items():
        for _ in range(args.runs):
            with bench.serve(url) as base:
                bench._wrk(base, args.warm, urls)
                bare = bench._wrk(base, 8, ["/livez"])
                run = bench._wrk(base, args.duration, urls)
            print(
                f"{name}: spread {run['rps']:.0f} req/s, bare {bare['rps']:.0f}, "
                f"ratio {run['rps'] / bare['rps']:.2f}, p50 {run['p50_ms']:.1f} ms, "
                f"p99 {run['p99_ms']:.1f} ms, from the cache {run.get('hit_rate', 0):.1%} "
                f"(from the other worker {run.get('shared_rate', 0):.1%}), "
                f"load {run['load_1min']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
