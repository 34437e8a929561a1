"""Python SDK benchmark: what one `Analytics.track()` costs the caller's thread.

    .venv/bin/python bench/sdk.py [--calls 200000] [--destinations 1]

Times each call on its own (time.perf_counter_ns around it) while the background sender
runs as usual, with destinations that discard their batches, so the figures are the
caller's overhead only: building the record and appending it to each destination's queue.
Prints median / p90 / p99 / max per call, what the clock itself costs (included, not
subtracted), and whether the target holds: median ≤ 5 µs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

# The SDK from this checkout, installed or not (make setup installs it editable).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sdk" / "python" / "src"))

from reactor_analytics_sdk import Analytics  # noqa: E402
from reactor_analytics_sdk.destinations import Destination  # noqa: E402

TARGET_MEDIAN_US = 5.0


class Discard(Destination):
    def __init__(self, name: str):
        self.name = name
        self.events = 0

    def send(self, batch):
        self.events += len(batch)


def percentile(sorted_ns: list[int], p: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * p))] / 1000


def run(calls: int, destinations: int) -> dict:
    sinks = [Discard(f"discard-{i}") for i in range(destinations)]
    analytics = Analytics(env={}, destinations=sinks, max_queue_size=calls + 1)
    properties = {"plan": "pro", "total": 49.99, "items": 3}
    track, clock = analytics.track, time.perf_counter_ns
    for i in range(10_000):  # warm-up
        track("order_completed", properties, user_id="u_42")
    samples = [0] * calls
    gc.collect()
    for i in range(calls):
        started = clock()
        track("order_completed", properties, user_id="u_42")
        samples[i] = clock() - started
    analytics.close(30)
    assert analytics.invalid == 0 and all(s.events == calls + 10_000 for s in sinks)
    samples.sort()
    return {"median": percentile(samples, 0.5), "p90": percentile(samples, 0.9), "p99": percentile(samples, 0.99),
            "max": samples[-1] / 1000, "mean": statistics.fmean(samples) / 1000}


def clock_cost(calls: int) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        started = clock()
        samples.append(clock() - started)
    samples.sort()
    return samples[len(samples) // 2] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--destinations", type=int, nargs="*", default=[1, 3])
    args = parser.parse_args()
    print(f"Analytics.track() overhead in the caller's thread, {args.calls} calls each "
          f"(Python {sys.version.split()[0]}); target: median <= {TARGET_MEDIAN_US:.1f} us")
    print(f"  clock (perf_counter_ns pair) alone: median {clock_cost(100_000):.2f} us, included below")
    met = True
    for count in args.destinations:
        r = run(args.calls, count)
        met &= r["median"] <= TARGET_MEDIAN_US
        print(f"  {count} discarding destination(s): median {r['median']:.2f} us  p90 {r['p90']:.2f} us  "
              f"p99 {r['p99']:.2f} us  max {r['max']:.0f} us  mean {r['mean']:.2f} us")
    print(f"target median <= {TARGET_MEDIAN_US:.1f} us: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
