"""Scenario tests as data for the central services (LSS, MDS, VAS, settlement runs): the cases shipped with the
package in mhhs_ref/data/scenarios/settlement/<case>/.

The layout, the optional files and what each case covers are in mhhs_ref/data/scenarios/settlement/README.md;
each case's note.md has the hand working. The volumes are settled by the one composition of the maths,
`calc.settle_gsp_day`; runs by `SettlementService` over a real `MarketWideDataService`."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mhhs_ref
from mhhs_ref.calc import align_rows, settle_gsp_day
from mhhs_ref.data_services.processing import MISSING, to_if021
from mhhs_ref.design import verifies
from mhhs_ref.isd import reference_isd
from mhhs_ref.lss import LoadShapingService, day_shapes
from mhhs_ref.mds import MarketWideDataService, check_frame
from mhhs_ref.settlement import SettlementService
from mhhs_ref.time import UTC, local_day_cells, to_local_day, utc_period_ends
from mhhs_ref.vas import gsp_group_take

ROOT = Path(mhhs_ref.__file__).parent / 'data' / 'scenarios' / 'settlement'
CASES = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
ISD = reference_isd()
DS = '1700000001'  # the data service every scenario MPAN is appointed to (IF-021 path)
_DATA = Path(mhhs_ref.__file__).parent / 'data'
KNOWN_IDS = set(pd.read_csv(_DATA / 'design_register.csv').id) | set(
    pd.read_csv(_DATA / 'rejection_codes.csv').iloc[:, 0]
)
BASE_IDS = {
    'volumes': ('BP019', 'BP020', 'REP-006', 'REP-004', 'DI-496', 'ASM-MDS-DEFAULTING', 'ASM-LLF'),
    'lss': ('BP018', 'ASM-LSS-METHOD', 'ASM-LSS-CASCADE'),
    'runs': ('REF-RUN-CALENDAR', 'BP019', 'BP020'),
}


def _read(path):
    return pd.read_csv(
        path,
        dtype={
            'mpan': str,
            'supplier': str,
            'bmu': str,
            'distributor_id': str,
            'gsp_group': str,
            'code': str,
            'exception': str,
            'direction': str,
            'flag': str,
            'connection_type': str,
        },
    )


def _then(d: Path, name: str):
    p = d / 'then' / name
    return _read(p) if p.exists() else None


def _mpans(path: Path) -> pd.DataFrame:
    m = _read(path)
    m['domestic_premise'] = m.domestic_premise.astype(str).str.lower().eq('true')
    for c in (
        'distributor_id',
        'gsp_group',
        'supplier',
        'bmu',
        'connection_type',
        'market_segment',
        'energy_direction',
        'energisation',
    ):
        m[c] = m[c].astype('category')  # as the market generator makes them
    return m


def _utc_days(day) -> list:
    return sorted({u for u, _ in local_day_cells(day)})


def _arrays(hh: pd.DataFrame, mpans: pd.DataFrame, day) -> dict:
    """{UTC day: [n, 48] Wh, MISSING where not held} for every UTC day the local day spans (the last `received` version
    wins)."""
    if 'received' in hh:
        hh = hh.sort_values('received', kind='stable')
    pos = pd.Index(mpans.mpan)
    out = {}
    for u in _utc_days(day):
        a = np.full((len(mpans), 48), MISSING, np.int32)
        rows = hh[(hh.utc_day == str(u)) & hh.wh.notna() & hh.mpan.isin(mpans.mpan)]
        a[pos.get_indexer(rows.mpan), rows.period.to_numpy() - 1] = rows.wh.astype(np.int64).to_numpy()
        out[u] = a
    return out


def _take(d: Path) -> dict:
    t = _read(d / 'when' / 'take.csv').sort_values('period')
    return {'import': t.import_wh.to_numpy(np.float64), 'export': t.export_wh.to_numpy(np.float64)}


def _same(got, want, tol) -> bool:
    if isinstance(want, str) or isinstance(got, str):
        return str('' if got is None or (isinstance(got, float) and np.isnan(got)) else got) == str(want)
    return abs(float(got) - float(want)) <= tol


def _check_rows(name, got: pd.DataFrame, want: pd.DataFrame | None, keys: list[str], tol: float = 0.0):
    "Every row of `want` is in `got` (by `keys`), with every other column of `want` equal (numbers within `tol`)."
    if want is None:
        return
    g = got.copy()
    for k in keys:
        g[k] = [
            ('' if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)) for v in g[k]
        ]  # a wider category has no GSP group
    g = g.set_index(keys)
    values = [c for c in want.columns if c not in keys]
    want = want.astype({k: str for k in keys})
    for c in want.columns:
        if not pd.api.types.is_numeric_dtype(want[c]):
            want[c] = want[c].astype(object).where(want[c].notna(), '')
    for _, r in want.iterrows():
        key = tuple('' if pd.isna(r[k]) or r[k] == 'nan' else str(r[k]) for k in keys)
        if len(keys) == 1:
            key = key[0]
        assert key in g.index, f"{name}: no row {key} of {keys}"
        for c in values:
            v = g.loc[key, c]
            v = v.iloc[0] if isinstance(v, pd.Series) else v
            assert _same(v, r[c], tol), f"{name}: {key} {c}: got {v!r}, want {r[c]!r}"


def _check_exact(name, got: pd.DataFrame, want: pd.DataFrame | None, tol: float = 1e-9):
    "`got` has exactly the rows of `want` (its columns), in any order."
    if want is None:
        return
    cols = list(want.columns)
    assert len(got) == len(want), f"{name}: {len(got)} rows, want {len(want)}:\n{got}"
    if not len(want):
        return
    key = lambda f: f[cols].astype(str).apply('|'.join, axis=1)
    g, w = got.assign(_k=key(got)).sort_values('_k'), want.assign(_k=key(want)).sort_values('_k')
    for (_, a), (_, b) in zip(g.iterrows(), w.iterrows()):
        for c in cols:
            assert _same(a[c], b[c], tol), f"{name}: {c}: got {a[c]!r}, want {b[c]!r}\n{got}"


def _shapes(d: Path):
    """The case's own load shapes (`when/load_shapes.csv`, keyed with the measurement quantity) as a load-shape source,
    or None: the fallback."""
    p = d / 'when' / 'load_shapes.csv'
    if not p.exists():
        return None
    ls = _read(p)
    ls['domestic_premise'] = ls.domestic_premise.astype(str).str.lower().eq('true')
    key = ['gsp_group', 'connection_type', 'market_segment', 'domestic_premise', 'mq']

    def source(day, keys: pd.DataFrame) -> pd.DataFrame:
        k = keys.reset_index(drop=True).astype({c: str for c in key if c != 'domestic_premise'})
        out = k.merge(ls.astype({c: str for c in key if c != 'domestic_premise'}), on=key, how='left')
        assert out.p01.notna().all(), f"load_shapes.csv lacks {k[out.p01.isna()].to_dict('records')}"
        return out

    return source


def _view(mpans: pd.DataFrame):
    "The MDS's registration view of the scenario's MPANs: all appointed to `DS`, connected, as mpans.csv says."
    by = {r.mpan: r for r in mpans.itertuples(index=False)}
    return lambda m, day: {
        'ds': DS,
        'energisation': str(by[m].energisation),
        'mp_status': 'T',
        'connection_type': str(by[m].connection_type),
        'connection_type_from': '2000-01-01',
        'energy_direction': str(by[m].energy_direction),
        'supplier': str(by[m].supplier),
    }


def _load_mds(day, mpans: pd.DataFrame, hh: pd.DataFrame, how: str) -> tuple[MarketWideDataService, pd.DataFrame]:
    """A real MDS holding every MPAN of `mpans` (the settled group's and any others), each submission checked by the MDS
    first; returns (mds, refusals: mpan, code). `how`: 'bulk' — `load_day` per UTC day, receipt and quantity, after
    `check_frame` (a refused MPAN's day is not stored); 'if021' — one IF-021 per MPAN, UTC day and receipt through
    `receive`."""
    hh = (
        hh
        if 'received' in hh
        else hh.assign(received=[str(dt.date.fromisoformat(u) + dt.timedelta(days=1)) for u in hh.utc_day])
    )
    when = lambda r: dt.datetime.combine(dt.date.fromisoformat(r), dt.time(6), UTC)
    clock = {'now': dt.datetime(2000, 1, 1, tzinfo=UTC)}
    mds = MarketWideDataService(view=_view(mpans), clock=lambda: clock['now'])
    mq_of = dict(zip(mpans.mpan, np.where(mpans.energy_direction.astype(str) == 'E', 'AE', 'AI')))
    refused = []
    for (received, u), g in hh.groupby(['received', 'utc_day'], sort=True):
        clock['now'] = when(received)
        sel = mpans[mpans.mpan.isin(g.mpan)].reset_index(drop=True)
        wh = np.full((len(sel), 48), MISSING, np.int32)
        rows = g[g.wh.notna()]
        wh[pd.Index(sel.mpan).get_indexer(rows.mpan), rows.period.to_numpy() - 1] = rows.wh.astype(np.int64).to_numpy()
        if how == 'if021':
            ends = pd.DatetimeIndex(utc_period_ends(u))
            for i, m in enumerate(sel.mpan):
                held = wh[i] != MISSING
                f = pd.DataFrame(
                    {'mpan': m, 'mq': mq_of[m], 'sp': ends[held], 'wh': wh[i][held], 'q': 'A', 'e': None, 'arc': None}
                )
                for msg in to_if021(
                    f, DS, connection={m: (str(sel.connection_type.iloc[i]), '2000-01-01')}, now=clock['now']
                ):
                    mds.receive(msg)
            continue
        for mq in ('AI', 'AE'):
            on = (sel.mpan.map(mq_of) == mq).to_numpy()
            if not on.any():
                continue
            part, w = sel[on].reset_index(drop=True), wh[on]
            zero = np.zeros(w.shape, np.int8)
            code = check_frame(part, w, np.where(w == MISSING, -1, 0).astype(np.int8), zero, mq=mq)
            refused += [(m, c) for m, c in zip(part.mpan, code) if c]
            ok = code == ''
            if ok.any():
                mds.load_day(
                    u,
                    part[ok].reset_index(drop=True),
                    w[ok],
                    np.where(w[ok] == MISSING, -1, 0).astype(np.int8),
                    zero[ok],
                    received_at=when(received),
                    mq=mq,
                )
    ref = mds.refusals()[['mpan', 'code']]
    return mds, pd.concat([ref, pd.DataFrame(refused, columns=['mpan', 'code'])], ignore_index=True)


def _held(mds: MarketWideDataService, day, mpans: pd.DataFrame) -> dict:
    "What the MDS holds for `mpans` on each UTC day the local day spans, by MPAN (other groups' MPANs dropped)."
    out = {}
    for u in _utc_days(day):
        a = np.full((len(mpans), 48), MISSING, np.int32)
        for mq in ('AI', 'AE'):
            ids, vals, _ = mds.day_frame(u, mq)
            align_rows(ids, vals, mpans, out=a)
        out[u] = a
    return out


@pytest.mark.parametrize('name', CASES)
def test_settlement_scenario(name):
    d = ROOT / name
    assert (d / 'note.md').read_text().strip(), f'{name}: say what the scenario covers and how it is worked'
    params = dict(_read(d / 'when' / 'params.csv').astype(str).values.tolist())
    day, kind = dt.date.fromisoformat(params['day']), params.get('kind', 'volumes')
    ids = BASE_IDS[kind] + tuple(params.get('verifies', '').split())
    assert set(ids) <= KNOWN_IDS, f"{name}: not in the design register or rejection codes: {set(ids) - KNOWN_IDS}"
    mpans = _mpans(d / 'when' / 'mpans.csv')
    extra = (
        _mpans(d / 'when' / 'mds_extra_mpans.csv') if (d / 'when' / 'mds_extra_mpans.csv').exists() else mpans.iloc[:0]
    )
    every = (
        pd.concat([extra, mpans], ignore_index=True) if len(extra) else mpans
    )  # the MDS lists other groups' MPANs first
    hh = _read(d / 'when' / 'hh.csv')
    with verifies(*ids):
        if kind == 'lss':
            return _lss(name, d, day, mpans, hh)
        if kind == 'runs':
            return _runs(name, d, day, mpans, every, hh, params)
        _volumes(name, d, day, mpans, every, hh, params)


def _lss(name, d, day, mpans, hh):
    wh = _arrays(hh, mpans, day)[day]
    q = np.where(wh == MISSING, -1, 0).astype(np.int8)
    shapes = day_shapes(day, mpans, wh, q)
    long = shapes.explode('values').assign(
        period=lambda f: f.groupby(level=0).cumcount() + 1, wh=lambda f: f['values'].astype(np.int64)
    )
    key = ['gsp_group', 'connection_type', 'market_segment', 'domestic_premise', 'mq']
    _check_rows(name, long, _then(d, 'shapes.csv'), key + ['flag', 'n', 'period'])
    if (want := _then(d, 'lss_totals.csv')) is not None:  # the stored day, peak and off-peak totals (IF-023)
        lss = LoadShapingService()
        lss.run(day, mpans, wh, q)
        got = lss.shapes(day)
        _check_rows(name, got, want, key)
        assert (got.peak_wh + got.offpeak_wh == got.day_wh).all(), f"{name}: peak + off-peak ≠ day"


def _runs(name, d, day, mpans, every, hh, params):
    mds, refusals = _load_mds(day, every, hh, params.get('mds', 'bulk'))
    _check_exact(name, refusals, _then(d, 'refusals.csv'))
    st = SettlementService(mds, ISD)
    codes, take = params['runs'].split(), _take(d)
    for code in codes:
        st.run(day, code, mpans, take)
    with st.lock:
        got = pd.read_sql_query(
            'SELECT r.code, d.supplier, d.period, d.mwh AS deemed_take_mwh FROM deemed_take d JOIN runs r ON '
            'r.id=d.run_id',
            st.con,
        )
        factors = pd.read_sql_query('SELECT r.code, f.* FROM factors f JOIN runs r ON r.id=f.run_id', st.con)
    _check_rows(name, got, _then(d, 'runs.csv'), ['code', 'supplier', 'period'], tol=1e-9)
    _check_rows(name, factors, _then(d, 'factors.csv'), ['code', 'period'], tol=1e-9)
    _check_rows(name, st.runs(), _then(d, 'run_meta.csv'), ['code'])
    for code in codes:  # every run allocates the whole take
        assert abs(got[got.code == code].deemed_take_mwh.sum() - take['import'].sum() / 1e6) < 1e-6, (
            f"{name}: {code} misses the take"
        )


def _volumes(name, d, day, mpans, every, hh, params):
    if 'mds' in params:  # through a real MDS: what it refuses is not held
        mds, refusals = _load_mds(day, every, hh, params['mds'])
        held = _held(mds, day, mpans)
    else:
        held, refusals = _arrays(hh, mpans, day), pd.DataFrame(columns=['mpan', 'code'])
    _check_exact(name, refusals, _then(d, 'refusals.csv'))
    if params.get('take') == 'stand-in':  # the central data collection stand-in over the held (true) values
        take = gsp_group_take(to_local_day(day, held).astype(np.int64), mpans, ISD, noise=0.0)
        assert all(np.isfinite(v).all() for v in take.values()), f"{name}: the take stand-in is not finite"
        _check_rows(
            name,
            pd.DataFrame(
                {
                    'period': np.arange(1, len(take['import']) + 1),
                    'import_wh': take['import'],
                    'export_wh': take['export'],
                }
            ),
            _then(d, 'take.csv'),
            ['period'],
            tol=1e-6,
        )
    else:
        take = _take(d)
    res = settle_gsp_day(day, mpans, held, take, ISD, shapes=_shapes(d))
    if (
        want := _then(d, 'rep6_fallback.csv')
    ) is not None:  # the same day defaulted with the fallback load shapes instead
        _check_rows(
            name,
            settle_gsp_day(day, mpans, held, take, ISD).rep6,
            want,
            ['supplier', 'bmu', 'ccc_id', 'component', 'period'],
        )
    rep6, corr, factors, rep = res.rep6, res.corrected, res.factors, res.reports
    keys6 = ['supplier', 'bmu', 'ccc_id', 'component', 'period']
    _check_rows(name, rep6, _then(d, 'rep6.csv'), keys6)
    if len(refusals):
        assert (rep6.wh >= 0).all(), f"{name}: a refused negative value reached REP-006"
    _check_rows(name, factors, _then(d, 'factors.csv'), ['period'], tol=1e-9)
    if (want := _then(d, 'deemed.csv')) is not None:
        if 'direction' not in want:
            want = want.assign(direction='import')
        _check_rows(name, rep['REP-004'], want, ['supplier', 'direction', 'period'], tol=1e-9)
    _check_rows(name, res.defaults, _then(d, 'defaults.csv'), ['mpan'])
    _check_exact(name, res.exceptions(), _then(d, 'exceptions.csv'))
    _check_exact(name, res.llf_defaults, _then(d, 'rep008.csv'))
    n = len(local_day_cells(day))
    if (want := _then(d, 'counts.csv')) is not None:
        counts = dict(want.astype(str).values.tolist())
        assert int(rep6.period.max()) == int(counts['periods']) == len(factors) == res.periods == n, f"{name}: periods"
    for direction in ('import', 'export'):  # Σ corrected + what could not be allocated = the take, every period
        per = (
            corr[corr.direction == direction]
            .groupby('period')
            .corrected_wh.sum()
            .reindex(range(1, n + 1), fill_value=0.0)
            .to_numpy()
        )
        assert np.allclose(
            per + factors[f'{direction}_unallocated_wh'].to_numpy(), take[direction], rtol=1e-12, atol=0.5
        ), f"{name}: Σ corrected ≠ {direction} take"
