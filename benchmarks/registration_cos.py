"""Benchmark: register N MPANs, then run S changes of supplier end to end through the in-process DIP.

Every switch is the whole of BP001 as the process notebook runs it — CSS request, IF-002, IF-031 ×2, IF-032 ×2,
IF-033 ×2, IF-034 ×2, IF-035 ×3, CSS Secured/Active, IF-001, IF-036 ×2, IF-037 ×2, IF-035 DCC-MDROutcome, IF-041 ×2 —
with Registration, CSS, the DIP hub (SQLite files on disk, WAL, synchronous=FULL) and every actor in one process. The
switches run in waves (one wave per simulated day) so memory stays bounded.

Prints the load rate, switch throughput (switches/s and DIP messages/s), peak memory, and side by side the baseline:
the same number of DIP messages pushed through the same hub with no Registration and no actors (pre-built IF-041s,
batched the same way) — the ratio says how much of the time is business logic rather than the DIP. With --profile,
one wave runs under cProfile and the top functions by own time are printed, grouped by where they live.

    .venv/bin/python benchmarks/registration_cos.py                       # 1,000,000 MPANs, 100,000 switches
    .venv/bin/python benchmarks/registration_cos.py --mpans 100000 --switches 5000 --profile
"""

import argparse, cProfile, datetime as dt, io, pstats, resource, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd

from mhhs_ref.core import complete_mpan_core
from mhhs_ref.dip.hub import Credentials, Hub, InProcessDeliverer
from mhhs_ref.interfaces import build_message
from mhhs_ref.processes import Market
from mhhs_ref.time import wire_midnight


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mpan_frame(m: Market, n: int, start: int = 0) -> pd.DataFrame:
    "n smart MPANs across the 14 distributors, each with a supplier, MSS and SDS."
    sups = [d for d, r in m._roles.items() if r == 'SUP']
    dist = np.array([f'{d:02d}' for d in range(10, 24)])
    i = np.arange(start, start + n)
    cores = [complete_mpan_core(f'{dist[k % 14]}{k:010d}') for k in i]
    return pd.DataFrame(
        dict(
            mpan=cores,
            created_on='2026-01-01',
            gsp_group=None,
            connection_type='W',
            energy_direction='I',
            domestic_premise=True,
            duos_tariff='1',
            market_segment='S',
            energisation='E',
            supplier=[sups[k % 20] for k in i],
            ms=[m.first('MSS', k % 4) for k in i],
            ds=[m.first('SDS', k % 4) for k in i],
        )
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--mpans', type=int, default=1_000_000)
    ap.add_argument('--switches', type=int, default=100_000)
    ap.add_argument('--wave', type=int, default=10_000, help='switches per simulated day')
    ap.add_argument('--profile', action='store_true', help='profile the first wave')
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix='mhhs-bench-'))
    m = Market(
        start='2026-11-02T09:00:00+00:00', hub_db=str(tmp / 'dip.db'), registration_db=str(tmp / 'reg.db'), record=False
    )
    from mhhs_ref.core import gsp_group_for_mpan

    t0 = time.perf_counter()
    chunk = 100_000
    for s in range(0, a.mpans, chunk):
        f = mpan_frame(m, min(chunk, a.mpans - s), s)
        f['gsp_group'] = [gsp_group_for_mpan(x) for x in f.mpan]
        m.load(f)
    t_load = time.perf_counter() - t0
    print(
        f'loaded {a.mpans:,} MPANs (Registration facts + DIP routes) in {t_load:.1f} s = {a.mpans / t_load:,.0f} '
        f'MPANs/s; peak {peak_mb():,.0f} MB',
        flush=True,
    )

    sups = [d for d, r in m._roles.items() if r == 'SUP']
    for k, s in enumerate(sups):
        m.actors[s].preferred = {r: m.first(r, (k + 1) % 4) for r in ('MSS', 'SDS')}
    rng = np.random.default_rng(1)
    chosen = rng.choice(a.mpans, size=a.switches, replace=False)
    cores = [complete_mpan_core(f'{10 + k % 14:02d}{k:010d}') for k in chosen]
    owner = {c: sups[k % 20] for c, k in zip(cores, chosen)}
    n0 = m.hub._q('SELECT COUNT(*) FROM messages')[0][0]
    t1 = time.perf_counter()
    prof = None
    for w in range(0, a.switches, a.wave):
        day = m.clock.today() + dt.timedelta(days=2)
        if a.profile and w == 0:
            prof = cProfile.Profile()
            prof.enable()
        pubs = []
        for c in cores[w : w + a.wave]:
            gaining = sups[(sups.index(owner[c]) + 1 + len(pubs) % 7) % 20]
            css_id, p = m.css.register(c, gaining, day)
            m.actors[gaining].switches[css_id] = (c, day)
            pubs += p
        m.submit(m.regs, pubs)
        m.run()
        m.advance_to(day)
        if prof:
            prof.disable()
        done = min(w + a.wave, a.switches)
        el = time.perf_counter() - t1
        print(f'  {done:,} switches in {el:.0f} s ({done / el:.1f}/s); peak {peak_mb():,.0f} MB', flush=True)
    t_sw = time.perf_counter() - t1
    msgs = m.hub._q('SELECT COUNT(*) FROM messages')[0][0] - n0
    deliveries = m.hub._q("SELECT COUNT(*) FROM deliveries WHERE state='delivered'")[0][0]
    bad = m.hub._q("SELECT COUNT(*) FROM deliveries WHERE state!='delivered'")[0][0]
    moved = sum(1 for c in cores[:200] if m.registration.as_at(c, m.clock.today())['supplier']['dip_id'] != owner[c])
    print(
        f'{a.switches:,} changes of supplier end to end in {t_sw:.1f} s = {a.switches / t_sw:,.1f} switches/s; '
        f'{msgs:,} DIP messages ({msgs / a.switches:.1f} per switch) = {msgs / t_sw:,.0f} msg/s; {deliveries:,} '
        f'deliveries, {bad} not delivered'
    )
    print(f'check: {moved}/200 sampled MPANs have their new supplier; peak memory {peak_mb():,.0f} MB')

    # baseline side by side: the same number of messages through a bare hub (no Registration, no actors)
    base = Hub(str(tmp / 'base.db'), InProcessDeliverer())
    base.add_participants(m.isd.participants)
    sink = base.deliverer.register('sink', lambda ch, msgs: None)
    sds, sup = m.first('SDS'), m.first('SUP')
    for r in ('SUP', 'SDS'):
        base.subscribe('IF-041', m.first(r), sink)
    n_base = min(msgs, 200_000)
    bodies = [
        build_message(
            'IF-041',
            'ReadingRemote',
            sds,
            'SDS',
            mpan_core=c,
            primary=[sup],
            blocks={
                'B064': {
                    'meterID': 'S1',
                    'cumulativeRegisterReading': '1.000',
                    'cumulativeRegisterReadingDateTime': wire_midnight('2026-11-04'),
                    'readingMethod': 'A',
                    'siteVisitCheckCode': None,
                }
            },
        )
        for c in (cores * (n_base // len(cores) + 1))[:n_base]
    ]
    t2 = time.perf_counter()
    for k in range(0, n_base, 500):
        base.submit('IF-041', bodies[k : k + 500], Credentials(sds, 'SDS'))
        base.run_until_idle()
    t_base = time.perf_counter() - t2
    print(
        f'baseline: {n_base:,} messages through the bare hub in {t_base:.1f} s = {n_base / t_base:,.0f} msg/s; '
        f'full process / bare hub = {(n_base / t_base) / (msgs / t_sw):.1f}x the time per message'
    )
    if prof:
        s = io.StringIO()
        st = pstats.Stats(prof, stream=s)
        groups = {}
        for (file, line, fn), (cc, nc, tt, ct, callers) in st.stats.items():
            key = (
                'sqlite3'
                if 'sqlite3' in fn
                else 'pydantic'
                if 'pydantic' in file or 'validate_python' in fn
                else 'json'
                if '/json/' in file
                else 'mhhs_ref.dip'
                if '/dip/' in file
                else 'mhhs_ref.registration'
                if 'registration' in file
                else 'mhhs_ref.processes (actors)'
                if 'processes' in file
                else 'mhhs_ref.interfaces'
                if 'interfaces' in file
                else 'pandas/numpy'
                if 'pandas' in file or 'numpy' in file
                else 'other'
            )
            groups[key] = groups.get(key, 0) + tt
        total = sum(groups.values())
        print('where the time goes in the first wave (own time):')
        for k, v in sorted(groups.items(), key=lambda kv: -kv[1]):
            print(f'  {k:32s} {v:7.1f} s  {100 * v / total:4.0f} %')


if __name__ == '__main__':
    main()
