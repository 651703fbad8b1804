"""Scenario tests as data: each folder under mhhs_ref/data/scenarios/processing/ (package data, shipped in the wheel
for `mhhs-ref vectors`) is one hand-worked case of data processing (BP005).

    <scenario>/note.md              what it covers, and the hand working
    <scenario>/when/mpans.csv       the MPANs (attributes processing reads)
    <scenario>/when/hh.csv          collected half-hours: mpan, period (1-48), wh (blank = nothing collected)
    <scenario>/when/long.csv        or collected rows as they arrived: mpan, sp (UTC period end), wh
    <scenario>/when/day_quantity.csv  optional: mpan, wh (a daily register advance)
    <scenario>/when/params.csv      key,value: day (default 2026-01-14), fill (Wh for periods hh.csv does not list;
                                    default: nothing collected), basis (annual | seven_day)
    <scenario>/then/result.csv      expected cells: mpan, period, wh, q, e (blank = no reason)
    <scenario>/then/totals.csv      optional: expected day totals per MPAN
    <scenario>/then/refused.csv     optional: expected refused rows of long.csv with their ECS code

A new scenario is a new folder; nothing here needs editing.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mhhs_ref
from mhhs_ref.data_services.processing import MISSING, QUALITY, REASONS, DayData, from_long, process
from mhhs_ref.design import verifies

ROOT = Path(mhhs_ref.__file__).parent / 'data' / 'scenarios' / 'processing'
SCENARIOS = sorted(p.name for p in ROOT.iterdir() if p.is_dir())


def _read(path, dtype=None):
    return pd.read_csv(path, dtype={'mpan': str, **(dtype or {})})


def run_scenario(d: Path):
    params = (
        dict(_read(d / 'when' / 'params.csv').astype(str).values.tolist())
        if (d / 'when' / 'params.csv').exists()
        else {}
    )
    day = params.get('day', '2026-01-14')
    mpans = _read(d / 'when' / 'mpans.csv')
    mpans['domestic_premise'] = mpans.domestic_premise.astype(str).str.lower().eq('true')
    refused = None
    if (d / 'when' / 'long.csv').exists():
        data, refused = from_long(day, mpans, _read(d / 'when' / 'long.csv'))
    else:
        fill = params.get('fill')
        wh = np.full((len(mpans), 48), MISSING if fill is None else int(float(fill)), np.int32)
        if (d / 'when' / 'hh.csv').exists():
            hh = _read(d / 'when' / 'hh.csv')
            i = pd.Index(mpans.mpan).get_indexer(hh.mpan)
            wh[i, hh.period.to_numpy() - 1] = hh.wh.fillna(MISSING).astype(np.int64).to_numpy()
        data = DayData(day, mpans, wh)
    qty = None
    if (d / 'when' / 'day_quantity.csv').exists():
        q = _read(d / 'when' / 'day_quantity.csv')
        qty = np.full(len(mpans), -1, np.int64)
        qty[pd.Index(mpans.mpan).get_indexer(q.mpan)] = q.wh.to_numpy()
    return process(data, day_quantity_wh=qty, basis=params.get('basis', 'annual')), refused


@pytest.mark.parametrize('name', SCENARIOS)
def test_processing_scenario(name):
    d = ROOT / name
    assert (d / 'note.md').read_text().strip(), f'{name}: say what the scenario covers'
    with verifies('BP005', 'ASM-DS-ESTIMATION-HIERARCHY', 'ASM-DS-QUALITY-CODES'):
        out, refused = run_scenario(d)
        idx = pd.Index(out.mpans.mpan)
        exp = _read(d / 'then' / 'result.csv', dtype={'mpan': str, 'e': str})
        for r in exp.itertuples(index=False):
            i, j = idx.get_loc(r.mpan), int(r.period) - 1
            got = (int(out.wh[i, j]), QUALITY[out.quality[i, j]], REASONS[out.reason[i, j]])
            want = (int(r.wh), r.q, None if pd.isna(r.e) else str(int(float(r.e))))
            assert got == want, f'{name}: {r.mpan} period {r.period}: got {got}, want {want}'
        if (d / 'then' / 'totals.csv').exists():
            for r in _read(d / 'then' / 'totals.csv').itertuples(index=False):
                assert int(out.totals_wh()[idx.get_loc(r.mpan)]) == int(r.day_wh), f'{name}: day total of {r.mpan}'
        if (d / 'then' / 'refused.csv').exists():
            want = _read(d / 'then' / 'refused.csv')
            got = refused.assign(sp=refused.sp.map(lambda t: t.isoformat()))[['mpan', 'sp', 'wh', 'code']]
            key = ['mpan', 'sp', 'wh', 'code']
            assert sorted(map(tuple, got[key].astype(str).values)) == sorted(
                map(tuple, want[key].astype(str).values)
            ), name
