"""Benchmark: one GSP group's UTC day through the data services and the LSS, at GB scale.

For the largest GSP group of a market of --mpans import MPANs (default 30,000,000, so _A with ~3.75 M MPANs): the market
generator makes the day (true and metered), then, each timed: BP004 collection (consent plan, daily advances, reads,
unmetered inventory, reactive), BP005 processing (validation and estimation of every MPAN's 48 periods), the LSS day
shapes from the processed data, and — the edge — IF-021 messages built and schema-validated for a sample of MPANs
(extrapolated to the partition). Side by side, the baseline: generating the same partition (the generator's own time),
so the ratio says what processing costs relative to making the data. Prints peak resident memory.

    .venv/bin/python benchmarks/processing_day.py
    .venv/bin/python benchmarks/processing_day.py --mpans 1000000 --sample 2000
"""

import argparse, resource, sys, time

import numpy as np

from mhhs_ref.data_services.collection import Registers, collect_day
from mhhs_ref.data_services.processing import MISSING, Q, process, to_frame, to_if021
from mhhs_ref.lss import day_shapes
from mhhs_ref.market import MarketSpec


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--mpans', type=int, default=30_000_000)
    ap.add_argument('--gsp', default='_A')
    ap.add_argument('--day', default='2026-01-14')
    ap.add_argument('--sample', type=int, default=5_000, help='MPANs whose IF-021 is built to time the message edge')
    ap.add_argument(
        '--chunk', type=int, default=250_000, help='MPANs processed at a time (0: the whole partition at once)'
    )
    a = ap.parse_args(argv)
    spec = MarketSpec(a.mpans, seed=0)
    t = {}
    t0 = time.perf_counter()
    part = spec.day(a.gsp, a.day)
    t['generate (baseline)'] = time.perf_counter() - t0
    n = len(part.mpans)
    t0 = time.perf_counter()
    col = collect_day(part.mpans, part.metered_wh, part.true_wh, part.day, Registers(part.mpans))
    t['collect (BP004)'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = process(col.hh, day_quantity_wh=col.day_quantity_wh, chunk=a.chunk)
    t['process (BP005)'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    shapes = day_shapes(part.day, part.mpans, res.wh, res.quality)
    t['LSS day shapes (BP018)'] = time.perf_counter() - t0
    idx = np.random.default_rng(0).choice(n, size=min(a.sample, n), replace=False)
    from mhhs_ref.data_services.processing import DayData

    sub = DayData(res.day, res.mpans.iloc[idx].reset_index(drop=True), res.wh[idx], res.quality[idx], res.reason[idx])
    t0 = time.perf_counter()
    msgs = to_if021(to_frame(sub), '1400000001')
    edge = time.perf_counter() - t0
    cells = n * 48
    print(f"partition {a.gsp} of a {a.mpans:,}-MPAN market: {n:,} MPANs, {cells:,} periods, UTC day {a.day}\n")
    for k, v in t.items():
        print(
            f"  {k:<26} {v:8.1f} s   {cells / v / 1e6:8.1f} M periods/s   {v / t['generate (baseline)']:5.2f}x the "
            f"generator"
        )
    print(
        f"  {'IF-021 build + validate':<26} {edge / len(msgs) * 1e3:8.2f} ms per message = {len(msgs) / edge:,.0f} "
        f"messages/s "
        f"(the partition's {n:,} would take {n * edge / len(msgs) / 60:,.1f} min on one core)"
    )
    est = (res.quality != Q['A']).sum()
    truth, sub_total = part.true_wh.sum(dtype=np.int64), res.totals_wh().sum()
    print(
        f"\n  cells estimated: {est:,} ({est / cells:.1%}); submitted / true energy: {sub_total / truth:.4f}; "
        f"LSS categories: {len(shapes)} ({dict(shapes.flag.value_counts())})"
    )
    print(f"  peak RSS {peak_mb():,.0f} MB")


if __name__ == '__main__':
    sys.exit(main())
