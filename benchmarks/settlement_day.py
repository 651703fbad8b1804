"""Benchmark: one GB settlement day through the central services — LSS, MDS (validation, defaulting, aggregation), VAS.

For each market size (default 1 M, 10 M and 30 M import MPANs, exports beside them) every GSP group's day is made by the
market generator (the input: not counted as compute), then, each timed in the worker that holds the partition:

- keys — `mds.mpan_kinds`: each MPAN's kind (its combination of the columns every key is made of), coded once per
         partition and handed to the stages below, which look their keys up per kind;
- LSS  — `lss.day_shapes`: contributors, category sums, the cascade;
- MDS  — `mds.check_frame` (the ECS rules on the day's values) and `mds.local_volumes` (defaulting, losses, CCCs,
         REP-006 aggregation by local settlement period);
- VAS  — `vas.gsp_group_take` (the stand-in for the take), `vas.correct` (GSP Group Correction), `vas.allocate`
         (REP-003/004/007).

The input is what the MDS would hold before its own defaulting: the metered half-hours of the day as submitted (a
period not submitted is MISSING, so defaulting has work), actual quality where present. The day (14 January, default) is
in GMT, so the local settlement day is the UTC day: one partition's day is one array.

Side by side, on the same partitions in the same run:

- the floor — one numpy pass over the same bytes (`wh.sum()` over the day's int32 values): what reading the data once
  costs on this machine;
- a straightforward pandas implementation of the same aggregations (`--baseline`, on by default): the day as a frame,
  `groupby(...).sum()` / `.mean()` for REP-006 and the load-shape means — no defaulting, so it does less work.

Partitions run on `--workers` processes (default 2, the machine's cores), one BLAS thread each (set
`OPENBLAS_NUM_THREADS` to override); compute is reported as the sum over workers (CPU seconds) and as the critical
path (the busiest worker: what the day takes with this many cores). Peak memory is the largest worker's resident set
plus the parent's, times the workers running at once (an upper bound).

    .venv/bin/python benchmarks/settlement_day.py
    .venv/bin/python benchmarks/settlement_day.py --sizes 1000000 --workers 1
"""

import argparse, os, resource, sys, time
from pathlib import Path

# One BLAS thread per worker: partitions are already spread over `--workers` processes, one per core. With the default
# (a thread per core in every worker) the LSS's matrix-vector products spin a second thread that takes the other
# worker's core and is counted in the stage's wall time; results are the same either way. Set it to override.
for _v in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_v, '1')
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from mhhs_ref.data_services.processing import MISSING
from mhhs_ref.lss import CATEGORY, contributions, day_shapes
from mhhs_ref.market import MarketSpec
from mhhs_ref.mds import check_frame, local_volumes, mpan_kinds
from mhhs_ref.vas import allocate, correct, gsp_group_take

STAGES = ['MPAN kinds', 'LSS', 'MDS validate', 'MDS default+aggregate', 'VAS take', 'VAS correct+allocate']


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_hwm() -> None:
    "Start the kernel's peak-RSS count afresh (Linux: VmHWM), so the stages' peak is not the generator's."
    try:
        Path('/proc/self/clear_refs').write_text('5')
    except OSError:
        pass


def hwm_mb() -> float:
    "Peak resident set since the last reset (VmHWM), MB."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return peak_mb()


def pandas_baseline(mpans: pd.DataFrame, wh: np.ndarray, quality: np.ndarray) -> None:
    "The obvious pandas: the day as a frame, REP-006-like sums and LSS means by groupby (no defaulting, no cascade)."
    df = pd.DataFrame(np.where(wh == MISSING, 0, wh).astype(np.int64))
    keys = [
        mpans.gsp_group.astype(str).to_numpy(),
        mpans.supplier.astype(str).to_numpy(),
        mpans.bmu.astype(str).to_numpy(),
        mpans.connection_type.astype(str).to_numpy(),
        mpans.market_segment.astype(str).to_numpy(),
    ]
    df.groupby(keys).sum()
    ck, norm, tot = contributions(mpans, wh, quality)
    pd.DataFrame(norm).groupby([ck[c] for c in CATEGORY]).mean()


def one_partition(args) -> dict:
    n_mpans, seed, gsp, day, baseline = args
    spec = MarketSpec(n_mpans, seed=seed)
    t0 = time.perf_counter()
    part = spec.day(gsp, day)
    gen = time.perf_counter() - t0
    wh = part.metered_wh
    quality = np.where(wh == MISSING, -1, 0).astype(np.int8)
    reason = np.zeros(wh.shape, np.int8)
    codes_in = np.where(
        quality < 0, 0, quality
    )  # the codes as a data service submits them: input, like `quality`, not a stage
    gen_peak = peak_mb()
    reset_hwm()
    t = {}
    t0 = time.perf_counter()
    kinds = mpan_kinds(part.mpans)  # once per partition, shared by the stages (as `calc.settle_gsp_day` does)
    t['MPAN kinds'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    day_shapes(part.day, part.mpans, wh, quality, kinds=kinds)
    t['LSS'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    codes = check_frame(part.mpans, wh, codes_in, reason)
    t['MDS validate'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep6, per_mpan = local_volumes(part.day, part.mpans, {part.day: wh}, spec.isd, kinds=kinds)
    t['MDS default+aggregate'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    take = gsp_group_take(part.true_wh, part.mpans, spec.isd, seed=seed, kinds=kinds)
    t['VAS take'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    corr, factors = correct(rep6, take, spec.isd)
    allocate(corr, per_mpan)
    t['VAS correct+allocate'] = time.perf_counter() - t0
    peak = hwm_mb()  # the stages with their input held; before the baseline, which holds the day as a pandas frame
    t0 = time.perf_counter()
    wh.sum(dtype=np.int64)
    floor = time.perf_counter() - t0
    base = None
    if baseline:
        t0 = time.perf_counter()
        pandas_baseline(part.mpans, wh, quality)
        base = time.perf_counter() - t0
    # the correction closes on the take to float precision: a check that the numbers are the real ones
    imp = (
        corr[corr.direction == 'import']
        .groupby('period')
        .corrected_wh.sum()
        .reindex(range(1, 49), fill_value=0)
        .to_numpy()
    )
    closes = float(np.max(np.abs(imp - take['import']) / np.maximum(take['import'], 1)))
    return {
        'gsp': gsp,
        'mpans': len(part.mpans),
        'cells': wh.size,
        'bytes': wh.nbytes,
        'generate': gen,
        **t,
        'floor': floor,
        'pandas': base,
        'refused': int((codes != '').sum()),
        'closes': closes,
        'peak_mb': peak,
        'gen_peak_mb': gen_peak,
    }


def run(size: int, workers: int, baseline: bool, day: str, seed: int) -> None:
    spec = MarketSpec(size, seed=seed)
    # biggest first, so the workers finish together
    counts = spec.counts()
    groups = sorted(spec.gsp_groups, key=lambda g: -counts[g])
    args = [(size, seed, g, day, baseline) for g in groups]
    t0 = time.perf_counter()
    if workers == 1:
        rows = [one_partition(a) for a in args]
    else:
        with ProcessPoolExecutor(workers) as ex:
            rows = list(ex.map(one_partition, args))
    wall = time.perf_counter() - t0
    df = pd.DataFrame(rows)
    compute = df[STAGES].sum(axis=1)
    # the busiest worker, assigning partitions greedily in the order the pool took them (its queue is in order)
    load = [0.0] * workers
    for c in compute:
        load[load.index(min(load))] += c
    mpans, cells = int(df.mpans.sum()), int(df.cells.sum())
    print(
        f"\n== {size:,} import MPANs: {mpans:,} MPANs in {len(df)} GSP groups, {cells:,} half-hours, "
        f"{df.bytes.sum() / 1e9:.2f} GB of int32 values"
        f" ({workers} worker{'s' if workers > 1 else ''}; wall {wall:.1f} s including generation "
        f"{df.generate.sum():.1f} s CPU)"
    )
    for s in STAGES:
        print(f"  {s:<24} {df[s].sum():8.2f} s CPU   {cells / df[s].sum() / 1e6:8.1f} M half-hours/s")
    tot = compute.sum()
    print(
        f"  {'LSS + MDS + VAS':<24} {tot:8.2f} s CPU   {cells / tot / 1e6:8.1f} M half-hours/s;  critical path on "
        f"{workers} core(s): {max(load):.2f} s"
    )
    print(
        f"  floor (one pass, sum)    {df.floor.sum():8.2f} s CPU   -> compute is {tot / df.floor.sum():.1f}x the floor"
    )
    if baseline:
        print(
            f"  pandas groupby baseline  {df.pandas.sum():8.2f} s CPU   -> compute is {tot / df.pandas.sum():.2f}x "
            f"the baseline "
            f"(the baseline does no validation, defaulting, cascade or correction)"
        )
    print(
        f"  peak RSS of LSS + MDS + VAS with the partition's input held: largest worker {df.peak_mb.max():,.0f} MB; "
        f"with {workers} at once "
        f"and the parent ({peak_mb():,.0f} MB) at most {df.peak_mb.max() * workers + peak_mb():,.0f} MB  (the "
        f"generator, before: {df.gen_peak_mb.max():,.0f} MB)"
    )
    print(
        f"  check: Σ corrected import = take to {df.closes.max():.1e} (relative) in every group; MPANs refused by "
        f"the ECS rules: {df.refused.sum():,}"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default='1000000,10000000,30000000', help='comma-separated market sizes (import MPANs)')
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--day', default='2026-01-14')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--no-baseline', dest='baseline', action='store_false')
    a = ap.parse_args(argv)
    for size in (int(s) for s in a.sizes.split(',')):
        run(size, a.workers, a.baseline, a.day, a.seed)


if __name__ == '__main__':
    sys.exit(main())
