"""Scenario tests as data for the central services (LSS, MDS, VAS, settlement runs): tests/scenarios/settlement/<case>/.

The layout and what each case covers are in tests/scenarios/settlement/README.md; each case's note.md has the hand working."""
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mhhs_ref.data_services.processing import MISSING
from mhhs_ref.design import verifies
from mhhs_ref.isd import reference_isd
from mhhs_ref.lss import day_shapes
from mhhs_ref.mds import MarketWideDataService, local_volumes
from mhhs_ref.settlement import SettlementService
from mhhs_ref.time import UTC, local_day_cells
from mhhs_ref.vas import allocate, correct

ROOT = Path(__file__).parent / 'scenarios' / 'settlement'
CASES = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
ISD = reference_isd()


def _read(path):
    return pd.read_csv(path, dtype={'mpan': str, 'supplier': str, 'bmu': str, 'distributor_id': str, 'gsp_group': str})


def _mpans(d: Path) -> pd.DataFrame:
    m = _read(d/'when'/'mpans.csv')
    m['domestic_premise'] = m.domestic_premise.astype(str).str.lower().eq('true')
    for c in ('distributor_id', 'gsp_group', 'supplier', 'bmu', 'connection_type', 'market_segment', 'energy_direction', 'energisation'):
        m[c] = m[c].astype('category')                  # as the market generator makes them
    return m


def _arrays(d: Path, mpans: pd.DataFrame, day) -> tuple[dict, pd.DataFrame]:
    "{UTC day: [n, 48] Wh, MISSING where not held} for every UTC day the local day spans, and the hh rows."
    hh = _read(d/'when'/'hh.csv')
    pos = pd.Index(mpans.mpan)
    out = {}
    for u in sorted({u for u, _ in local_day_cells(day)}):
        a = np.full((len(mpans), 48), MISSING, np.int32)
        rows = hh[(hh.utc_day == str(u)) & hh.wh.notna()]
        a[pos.get_indexer(rows.mpan), rows.period.to_numpy() - 1] = rows.wh.astype(np.int64).to_numpy()
        out[u] = a
    return out, hh


def _take(d: Path) -> dict:
    t = _read(d/'when'/'take.csv').sort_values('period')
    return {'import': t.import_wh.to_numpy(np.float64), 'export': t.export_wh.to_numpy(np.float64)}


def _check_rows(name, got: pd.DataFrame, want: pd.DataFrame, keys: list[str], value: str, tol: float = 0.0):
    g = got.copy()
    for k in keys: g[k] = [('' if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)) for v in g[k]]      # a wider category has no GSP group
    g = g.set_index(keys)
    for r in want.fillna('').astype({k: str for k in keys}).itertuples(index=False):
        key = tuple(str(getattr(r, k)) for k in keys)
        if len(keys) == 1: key = key[0]
        assert key in g.index, f"{name}: no row {key} of {keys}"
        v = g.loc[key, value]
        v = v.iloc[0] if isinstance(v, pd.Series) else v
        assert abs(float(v) - float(getattr(r, value))) <= tol, f"{name}: {key} {value}: got {v}, want {getattr(r, value)}"


@pytest.mark.parametrize('name', CASES)
def test_settlement_scenario(name):
    d = ROOT / name
    assert (d/'note.md').read_text().strip(), f'{name}: say what the scenario covers and how it is worked'
    params = dict(_read(d/'when'/'params.csv').astype(str).values.tolist())
    day, kind = dt.date.fromisoformat(params['day']), params.get('kind', 'volumes')
    mpans = _mpans(d)
    arrays, hh = _arrays(d, mpans, day)
    if kind == 'lss':
        with verifies('BP018', 'ASM-LSS-METHOD', 'ASM-LSS-CASCADE'):
            wh = arrays[day]
            shapes = day_shapes(day, mpans, wh, np.where(wh == MISSING, -1, 0).astype(np.int8))
            long = shapes.explode('values').assign(period=lambda f: f.groupby(level=0).cumcount() + 1, wh=lambda f: f['values'].astype(np.int64))
            _check_rows(name, long, _read(d/'then'/'shapes.csv'), ['gsp_group', 'connection_type', 'market_segment', 'domestic_premise', 'mq', 'flag', 'n', 'period'], 'wh')
        return
    if kind == 'runs':
        with verifies('REF-RUN-CALENDAR', 'BP019', 'BP020'):
            mds = MarketWideDataService()
            for u in sorted({u for u, _ in local_day_cells(day)}):
                rows = hh[hh.utc_day == str(u)]
                for when, g in rows.groupby('received'):
                    sel = mpans.mpan.isin(g.mpan).to_numpy()
                    wh = arrays[u][sel]
                    mds.load_day(u, mpans[sel].reset_index(drop=True), wh, np.where(wh == MISSING, -1, 0).astype(np.int8), np.zeros(wh.shape, np.int8),
                                 received_at=dt.datetime.combine(dt.date.fromisoformat(when), dt.time(6), UTC))
            st = SettlementService(mds, ISD)
            codes = params['runs'].split()
            for code in codes: st.run(day, code, mpans, _take(d))
            with st.lock:
                got = pd.read_sql_query('SELECT r.code, d.supplier, d.period, d.mwh AS deemed_take_mwh FROM deemed_take d JOIN runs r ON r.id=d.run_id', st.con)
            _check_rows(name, got, _read(d/'then'/'runs.csv'), ['code', 'supplier', 'period'], 'deemed_take_mwh', tol=1e-9)
            for code in codes:      # every run allocates the whole take
                assert abs(got[got.code == code].deemed_take_mwh.sum() - _take(d)['import'].sum() / 1e6) < 1e-6, f"{name}: {code} misses the take"
        return
    with verifies('BP019', 'BP020', 'REP-006', 'REP-004', 'DI-496', 'ASM-MDS-DEFAULTING', 'ASM-LLF'):
        rep6, dflt = local_volumes(day, mpans, arrays, ISD)
        corr, factors = correct(rep6, _take(d), ISD)
        rep = allocate(corr, dflt)
        _check_rows(name, rep6, _read(d/'then'/'rep6.csv'), ['supplier', 'bmu', 'ccc_id', 'component', 'period'], 'wh')
        _check_rows(name, rep6, _read(d/'then'/'rep6.csv'), ['supplier', 'bmu', 'ccc_id', 'component', 'period'], 'mpans')
        if (d/'then'/'factors.csv').exists(): _check_rows(name, factors, _read(d/'then'/'factors.csv'), ['period'], 'import_ggcf', tol=1e-9)
        if (d/'then'/'deemed.csv').exists():
            _check_rows(name, rep['REP-004'].query("direction == 'import'"), _read(d/'then'/'deemed.csv'), ['supplier', 'period'], 'deemed_take_mwh', tol=1e-9)
        if (d/'then'/'defaults.csv').exists():
            for c in ('defaulted_periods', 'defaulted_wh'): _check_rows(name, dflt, _read(d/'then'/'defaults.csv'), ['mpan'], c)
        if (d/'then'/'counts.csv').exists():
            counts = dict(_read(d/'then'/'counts.csv').astype(str).values.tolist())
            assert int(rep6.period.max()) == int(counts['periods']) == len(factors), f"{name}: periods"
        per = corr[corr.direction == 'import'].groupby('period').corrected_wh.sum()
        assert np.allclose(per.to_numpy(), _take(d)['import'], rtol=1e-12), f"{name}: Σ corrected ≠ take"
