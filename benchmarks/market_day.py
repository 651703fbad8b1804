"""Benchmark: generate one UTC settlement day of a synthetic GB market into parquet, partition by partition.

`write_day` makes, for each of the 14 GSP groups in turn, the MPANs (market frame) and the true and metered
half-hourly Wh (int32, faults included) in chunks of MPANs, writing each chunk as parquet row groups (zstd). Prints per
GSP group and in total: MPANs, MPAN-periods per second, seconds, bytes written; the peak resident memory of the process;
and side by side a baseline measured in the same process: drawing the same number of float32 normals alone, chunk by
chunk (the floor of any generator that draws noise per period), and the in-memory size one whole partition's arrays
would take — to show memory is bounded by the chunk, not the partition.

    .venv/bin/python benchmarks/market_day.py                           # 30,000,000 import MPANs (a GB day)
    .venv/bin/python benchmarks/market_day.py --mpans 1000000 --chunk 250000 --keep /tmp/market
"""

import argparse, resource, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np

from mhhs_ref.market import MarketSpec, write_day


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--mpans', type=int, default=30_000_000)
    ap.add_argument('--day', default='2026-01-14')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--chunk', type=int, default=250_000)
    ap.add_argument('--keep', default=None, help='write here and keep the files (default: a temporary folder, removed)')
    a = ap.parse_args(argv)
    spec = MarketSpec(a.mpans, seed=a.seed)
    out = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix='market_day_'))
    try:
        t0 = time.perf_counter()

        def progress(g, n):
            print(f"  {g}: {n:>10,} MPANs  {time.perf_counter() - t0:7.1f} s  peak {peak_mb():,.0f} MB", flush=True)

        summary = write_day(spec, a.day, out, chunk=a.chunk, progress=progress)
        total = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.rglob('*.parquet'))
        cells = int(summary.mpans.sum()) * 48
        print(
            f"\nmarket: {a.mpans:,} import MPANs + exports = {int(summary.mpans.sum()):,} MPANs; {cells:,} "
            f"MPAN-periods (true and metered)"
        )
        print(
            f"generate + write: {total:,.1f} s = {cells / total / 1e6:,.2f} M MPAN-periods/s; parquet "
            f"{size / 1e9:,.2f} GB; peak RSS {peak_mb():,.0f} MB"
        )
        print(
            f"energy: true {summary.true_wh.sum() / 1e9:,.3f} GWh, metered {summary.metered_wh.sum() / 1e9:,.3f} GWh "
            f"(int64 sums of int32 Wh)"
        )
        print(
            f"largest partition {summary.mpans.max():,} MPANs: as whole int32 arrays it would be "
            f"{summary.mpans.max() * 48 * 4 * 2 / 1e6:,.0f} MB; "
            f"a chunk of {a.chunk:,} works in about {a.chunk * 48 * 4 * 4 / 1e6:,.0f} MB"
        )
        # baseline: the same number of float32 normals, chunk by chunk
        rng = np.random.default_rng(0)
        t1 = time.perf_counter()
        left = cells // 48
        while left > 0:
            k = min(a.chunk, left)
            rng.standard_normal((k, 48), dtype=np.float32)
            left -= k
        base = time.perf_counter() - t1
        print(
            f"baseline (float32 normals only): {base:,.1f} s = {cells / base / 1e6:,.1f} M/s; generator at "
            f"{base / total:.1%} of the floor's speed "
            f"({total / base:.1f}x the floor's time)"
        )
        print(summary.assign(seconds=summary.seconds.round(1)).to_string(index=False))
    finally:
        if not a.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
