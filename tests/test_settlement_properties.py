"""Properties of the central services' maths on random small markets (hypothesis):

- Σ corrected volume = the GSP Group Take in every period with volume to correct (to a millionth of a Wh);
- aggregates equal the sum of their parts at every level (REP-006 consumption = the defaulted half-hours; REP-003 =
REP-006
  corrected; REP-004 = Σ REP-003 by supplier; REP-003A = Σ REP-003 by BM Unit);
- the same input gives the same output, whatever the block size the sums are taken in;
- on a market-wide MDS holding several GSP groups (exports, negative values, both clock-change days): what each group
settles
  is its own MPANs' data, never another group's; negatives are refused (ECS1010) and never settled; defaulted export is
  zero
  at night; Σ allocated = the take wherever a factor can be formed (else REF0334 and the gap unallocated); the period
  count
  is the local day's; `SettlementService` over the same MDS gives the same deemed take as `settle_gsp_day`."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mhhs_ref.calc import align_rows, settle_gsp_day
from mhhs_ref.data_services.processing import MISSING
from mhhs_ref.design import verifies
from mhhs_ref.isd import reference_isd
from mhhs_ref.mds import MarketWideDataService, check_frame, default_missing, local_volumes
from mhhs_ref.settlement import SettlementService
from mhhs_ref.time import UTC, daylight, local_day_cells, to_local_day
from mhhs_ref.vas import allocate, correct

ISD = reference_isd()
# (connection type, segment, domestic, direction) combinations that have a CCC in the reference ISD
KINDS = [
    ('W', 'S', True, 'I'),
    ('W', 'S', False, 'I'),
    ('L', 'S', False, 'I'),
    ('W', 'S', True, 'E'),
    ('W', 'A', False, 'I'),
    ('H', 'A', False, 'I'),
    ('E', 'A', False, 'E'),
    ('U', 'U', False, 'I'),
]
DAYS = [
    dt.date(2026, 1, 14),
    dt.date(2026, 3, 29),
    dt.date(2026, 6, 14),
    dt.date(2026, 10, 25),
]  # 48, 46, 48, 50 periods


@st.composite
def markets(draw):
    n = draw(st.integers(1, 40))
    rows = []
    for i in range(n):
        ct, seg, dom, ed = draw(st.sampled_from(KINDS))
        rows.append(
            {
                'mpan': f"20{i:011d}",
                'distributor_id': draw(st.sampled_from(['10', '20', '23'])),
                'gsp_group': '_H',
                'supplier': draw(st.sampled_from(['SUPA', 'SUPB', 'SUPC'])),
                'bmu': draw(st.sampled_from(['B1', 'B2'])),
                'connection_type': ct,
                'market_segment': seg,
                'domestic_premise': dom,
                'energy_direction': ed,
                'energisation': draw(st.sampled_from(['E', 'E', 'E', 'D'])),
                'annual_kwh': float(draw(st.integers(0, 50_000))),
            }
        )
    mpans = pd.DataFrame(rows)
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
        mpans[c] = mpans[c].astype('category')
    day = draw(st.sampled_from(DAYS))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    arrays = {}
    for d in (day - dt.timedelta(days=1), day):
        a = rng.integers(0, 3_000, (n, 48)).astype(np.int32)
        a[rng.random((n, 48)) < draw(st.sampled_from([0.0, 0.1, 0.6, 1.0]))] = MISSING
        arrays[d] = a
    take = {'import': rng.uniform(1_000, 200_000, 50), 'export': rng.uniform(0, 20_000, 50)}
    return day, mpans, arrays, take


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets())
def test_correction_closes_and_parts_add_up(m):
    day, mpans, arrays, take = m
    with verifies(
        'BP019', 'BP020', 'REP-006', 'REP-003', 'REP-003A', 'REP-004', 'ASM-GGC-FORMULA', 'ASM-COLUMNAR-SUMS'
    ):
        rep6, dflt = local_volumes(day, mpans, arrays, ISD)
        width = int(rep6.period.max())
        take = {k: v[:width] for k, v in take.items()}
        corr, factors = correct(rep6, take, ISD)
        rep = allocate(corr, dflt)
        # REP-006 consumption is exactly the defaulted half-hours of the local day
        filled = to_local_day(day, {d: default_missing(d, mpans, a)[0] for d, a in arrays.items()})
        c = rep6[rep6.component == 'C']
        assert int(c.wh.sum()) == int(filled.sum())
        assert (
            c.groupby('period').wh.sum().reindex(range(1, width + 1), fill_value=0).tolist()
            == filled.sum(axis=0).tolist()
        )
        assert int(c.drop_duplicates(['supplier', 'bmu', 'ccc_id']).mpans.sum()) == len(mpans)
        # Σ corrected = take wherever there is weighted volume to correct; the volume itself elsewhere
        for direction in ('import', 'export'):
            g = corr[corr.direction == direction]
            if g.empty:
                continue
            got = g.groupby('period').corrected_wh.sum().reindex(range(1, width + 1), fill_value=0).to_numpy()
            weighted = (g.wh * g.weight).groupby(g.period).sum().reindex(range(1, width + 1), fill_value=0).to_numpy()
            raw = g.groupby('period').wh.sum().reindex(range(1, width + 1), fill_value=0).to_numpy()
            want = np.where(weighted > 0, take[direction], raw)
            assert np.allclose(got, want, rtol=1e-12, atol=1e-6), direction
        # each level is the sum of the one below (reports in MWh to 6 dp: a Wh per row)
        r3, r4, r3a = rep['REP-003'], rep['REP-004'], rep['REP-003A']
        assert abs(r3.allocated_mwh.sum() - corr.corrected_wh.sum() / 1e6) <= 1e-6 * max(1, len(r3))
        by_sup = r3.groupby(['supplier', 'direction', 'period']).allocated_mwh.sum()
        assert np.allclose(
            r4.set_index(['supplier', 'direction', 'period']).deemed_take_mwh.sort_index(),
            by_sup.sort_index(),
            atol=1e-6 * 40,
        )
        assert np.allclose(r3a.allocated_mwh.sum(), r3.allocated_mwh.sum(), atol=1e-6 * max(1, len(r3)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.sampled_from([1, 3, 7, 65_536]))
def test_deterministic_whatever_the_block(m, block):
    day, mpans, arrays, take = m
    with verifies('ASM-COLUMNAR-SUMS', 'REP-006'):
        a6, ad = local_volumes(day, mpans, arrays, ISD)
        b6, bd = local_volumes(day, mpans, arrays, ISD, block=block)
        pd.testing.assert_frame_equal(a6, b6)
        pd.testing.assert_frame_equal(ad, bd)


# A market-wide MDS ---------------------------------------------------------------------------------------------------
WIDE_DAYS = [dt.date(2026, 1, 14), dt.date(2026, 3, 29), dt.date(2026, 7, 14), dt.date(2026, 10, 25)]  # 48, 46, 48, 50
PERIODS = {dt.date(2026, 1, 14): 48, dt.date(2026, 3, 29): 46, dt.date(2026, 7, 14): 48, dt.date(2026, 10, 25): 50}
GROUPS = ['_A', '_H', '_J']


@st.composite
def wide_markets(draw, day):
    """Several GSP groups' MPANs for one MDS: every MPAN its own supplier and a distinct constant Wh (so its volume is
    recognisable in REP-006), some periods missing, some MPAN-days carrying a negative value; MPAN ids interleave the
    groups."""
    groups = GROUPS[: draw(st.integers(2, 3))]
    rows, k = [], 0
    for g in groups:
        for _ in range(draw(st.integers(1, 5))):
            ct, seg, dom, ed = draw(st.sampled_from(KINDS))
            rows.append(
                {
                    'mpan': f"{draw(st.integers(10, 99))}{k:011d}",
                    'distributor_id': draw(st.sampled_from(['10', '20', '23'])),
                    'gsp_group': g,
                    'supplier': f"S{k:03d}",
                    'bmu': f"B{k:03d}",
                    'connection_type': ct,
                    'market_segment': seg,
                    'domestic_premise': dom,
                    'energy_direction': ed,
                    'energisation': 'E',
                    'annual_kwh': float(draw(st.integers(100, 20_000))),
                    'wh': 11 + 13 * k,
                }
            )
            k += 1
    mpans = pd.DataFrame(rows)
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
        mpans[c] = mpans[c].astype('category')
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p_miss, p_neg = draw(st.sampled_from([0.0, 0.2, 0.7])), draw(st.sampled_from([0.0, 0.3]))
    sent, negative = {}, {}
    for u in sorted({u for u, _ in local_day_cells(day)}):
        a = np.repeat(mpans.wh.to_numpy(np.int32)[:, None], 48, axis=1)
        a[rng.random(a.shape) < p_miss] = MISSING
        neg = rng.random(len(mpans)) < p_neg
        a[neg, rng.integers(0, 48, len(mpans))[neg]] = -5  # one negative half-hour: the whole day is refused
        sent[u], negative[u] = a, neg
    order = rng.permutation(len(mpans))  # the order the MDS is loaded in
    takes = {
        g: {'import': rng.uniform(0, 20_000, PERIODS[day]), 'export': rng.uniform(0, 2_000, PERIODS[day])}
        for g in groups
    }
    return day, mpans, sent, negative, order, takes


def _mds_of(day, mpans, sent, order):
    """One MDS loaded with every group's MPANs (in `order`, per measurement quantity), after the frame check; (mds,
    refused rows per UTC day)."""
    mds, refused = MarketWideDataService(), {}
    m = mpans.iloc[order].reset_index(drop=True)
    for u, a in sent.items():
        a = a[order]
        refused[u] = np.zeros(len(mpans), bool)
        for mq, on in (('AI', (m.energy_direction == 'I').to_numpy()), ('AE', (m.energy_direction == 'E').to_numpy())):
            part, w = m[on].reset_index(drop=True), a[on]
            q = np.where(w == MISSING, -1, 0).astype(np.int8)
            code = check_frame(part, w, q, np.zeros(w.shape, np.int8), mq=mq)
            assert set(code) <= {'', 'ECS1010'}
            assert ((code == 'ECS1010') == ((w < 0) & (w != MISSING)).any(axis=1)).all(), (
                'ECS1010 exactly where a value is negative'
            )
            ok = code == ''
            refused[u][order[np.flatnonzero(on)[~ok]]] = True
            if ok.any():
                mds.load_day(
                    u,
                    part[ok].reset_index(drop=True),
                    w[ok],
                    q[ok],
                    np.zeros(w[ok].shape, np.int8),
                    received_at=dt.datetime.combine(u + dt.timedelta(days=1), dt.time(6), UTC),
                    mq=mq,
                )
    return mds, refused


@pytest.mark.parametrize('day', WIDE_DAYS, ids=str)  # both clock-change days every time
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_market_wide_mds_settles_each_group_from_its_own_data(day, data):
    m = data.draw(wide_markets(day))
    day, mpans, sent, negative, order, takes = m
    with verifies(
        'BP019',
        'BP020',
        'REP-006',
        'ECS1010',
        'ASM-GGC-FORMULA',
        'ASM-MDS-DEFAULTING',
        'ASM-DS-LOADSHAPE-FALLBACK',
        'DI-496',
    ):
        mds, refused = _mds_of(day, mpans, sent, order)
        cells = local_day_cells(day)
        n = len(cells)
        assert n == PERIODS[day]
        for u in sent:
            assert (refused[u] == negative[u]).all()
        dark = {
            u: (lambda r, s: (np.arange(48) / 2 + 0.25 < r - 0.25) | (np.arange(48) / 2 + 0.25 > s + 0.25))(
                *daylight(u)
            )
            for u in sent
        }
        for g in mpans.gsp_group.astype(str).unique():
            own = mpans[mpans.gsp_group.astype(str) == g].reset_index(drop=True)
            pos = np.flatnonzero((mpans.gsp_group.astype(str) == g).to_numpy())
            held = {}
            for u in sent:  # what the MDS holds for the group, by MPAN
                held[u] = np.full((len(own), 48), MISSING, np.int32)
                for mq in ('AI', 'AE'):
                    ids, vals, _ = mds.day_frame(u, mq)
                    align_rows(ids, vals, own, out=held[u])
                want = np.where(refused[u][pos, None], MISSING, sent[u][pos])
                assert np.array_equal(held[u], want), f"{g}: the MDS gave another MPAN's data"
            res = settle_gsp_day(day, own, held, takes[g], ISD)
            assert res.periods == n == int(res.rep6.period.max()) and res.gsp_group == g
            rep6 = res.rep6
            assert (rep6.wh >= 0).all(), 'a negative value was settled'
            c = rep6[rep6.component == 'C'].set_index(['supplier', 'period']).wh
            local_held = to_local_day(day, held)
            for i, r in own.iterrows():  # every held period is the MPAN's own constant
                v = c.loc[r.supplier].reindex(range(1, n + 1)).to_numpy()
                h = local_held[i] != MISSING
                assert (v[h] == r.wh).all(), f"{r.mpan}: not its own data"
                if r.energy_direction == 'E':  # defaulted export: nothing at night
                    night = np.array([dark[u][col] for u, col in cells]) & ~h
                    assert (v[night] == 0).all(), f"{r.mpan}: export defaulted at night"
            # Σ allocated = take where a factor can be formed; else REF0334 with the gap unallocated
            corr, f = res.corrected, res.factors
            for d in ('import', 'export'):
                gd = corr[corr.direction == d]
                got = gd.groupby('period').corrected_wh.sum().reindex(range(1, n + 1), fill_value=0.0).to_numpy()
                weighted = (
                    (gd.wh * gd.weight).groupby(gd.period).sum().reindex(range(1, n + 1), fill_value=0).to_numpy()
                )
                formed = weighted > 0
                assert np.allclose(got[formed], takes[g][d][formed], rtol=1e-12, atol=1e-6), d
                gap = takes[g][d] - got
                stuck = ~formed & (np.abs(gap) >= 0.5)
                assert (f.exception.to_numpy()[stuck] == 'REF0334').all()
                assert np.allclose(f[f'{d}_unallocated_wh'].to_numpy(), np.where(stuck, gap, 0.0), atol=1e-9)
            # the run over the same MDS reads the same data the same way
            sv = SettlementService(mds, ISD)
            rid = sv.run(day, 'SF', own, takes[g])
            with sv.lock:
                dt4 = pd.read_sql_query(
                    'SELECT supplier, period, mwh FROM deemed_take WHERE run_id=?', sv.con, params=(rid,)
                )
            r4 = res.reports['REP-004'].query("direction == 'import'")
            assert np.allclose(
                dt4.sort_values(['supplier', 'period']).mwh.to_numpy(),
                r4.sort_values(['supplier', 'period']).deemed_take_mwh.to_numpy(),
                atol=1e-12,
            )
