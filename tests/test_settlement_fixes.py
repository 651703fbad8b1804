"""Wrong answers a settlement analyst found (issue 17), each pinned by a test that failed before the fix.

Each test names the rule it holds; the rules are stated in the notebooks (`34b_settle_day`, `33_bp019_mds`,
`34_bp020_vas`)."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from mhhs_ref.core import MhhsError
from mhhs_ref.data_services.processing import MISSING, DayData, fallback_load_shapes, load_shapes, process
from mhhs_ref.design import verifies
from mhhs_ref.isd import reference_isd
from mhhs_ref.market import MarketSpec
from mhhs_ref.mds import MarketWideDataService, check_frame, local_volumes
from mhhs_ref.reports import unpack_report
from mhhs_ref.settlement import SettlementService
from mhhs_ref.time import UTC
from mhhs_ref.vas import allocate, correct, gsp_group_take

DAY = dt.date(2026, 1, 14)
ISD = reference_isd()


def _load(mds, part):
    wh = part.metered_wh
    mds.load_day(
        part.day,
        part.mpans,
        wh,
        np.where(wh == MISSING, -1, 0).astype(np.int8),
        np.zeros(wh.shape, np.int8),
        received_at=dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(6), UTC),
    )


def test_market_wide_mds_settles_each_group_with_its_own_data():
    "An MDS holding several GSP groups settles one group exactly as an MDS holding that group alone."
    spec = MarketSpec(3000, seed=3)
    a, b = (spec.day(g, DAY) for g in spec.gsp_groups[:2])
    order = np.argsort(
        (a.mpans.energy_direction == 'I').to_numpy(), kind='stable'
    )  # an import MPAN last: where a stray -1 lands
    a.mpans, a.metered_wh, a.true_wh = a.mpans.iloc[order].reset_index(drop=True), a.metered_wh[order], a.true_wh[order]
    take = gsp_group_take(a.true_wh, a.mpans, spec.isd)
    alone, wide = MarketWideDataService(), MarketWideDataService()
    _load(alone, a)
    _load(wide, a)
    _load(wide, b)
    with verifies('BP019', 'BP020'):
        got = []
        for mds in (alone, wide):
            st = SettlementService(mds, spec.isd)
            rid = st.run(DAY, 'SF', a.mpans, take)
            got.append(
                pd.read_sql_query(
                    'SELECT supplier, period, mwh FROM deemed_take WHERE run_id=? ORDER BY supplier, period',
                    st.con,
                    params=(rid,),
                )
            )
        pd.testing.assert_frame_equal(got[0], got[1])


def _export_mpans():
    m = pd.DataFrame(
        {
            'mpan': ['1000000000100', '1000000000101'],
            'gsp_group': '_A',
            'distributor_id': '10',
            'market_segment': 'S',
            'connection_type': 'W',
            'energy_direction': ['I', 'E'],
            'domestic_premise': True,
            'supplier': 'SUPA',
            'bmu': 'BMUA',
            'energisation': 'E',
            'annual_kwh': [3650.0, 1825.0],
            'mp_status': 'T',
        }
    )
    return m


def test_export_gaps_are_filled_with_an_export_shape():
    "Defaulted export follows daylight: nothing at night (the load-shape key carries the measurement quantity)."
    m = _export_mpans()
    wh = np.full((2, 48), MISSING, np.int32)
    with verifies('BP019', 'ASM-MDS-DEFAULTING'):
        rep6, dflt = local_volumes(DAY, m, {DAY: wh}, ISD)
        exp = rep6[(rep6.component == 'C') & (rep6.ccc_id.isin(ISD.ccc.query("measurement_quantity == 'AE'").ccc_id))]
        per = exp.groupby('period').wh.sum()
        assert per.sum() > 0
        assert per.loc[list(range(1, 13)) + list(range(40, 49))].sum() == 0, 'export defaulted at night'
        shapes, _ = load_shapes(DAY, m)
        assert shapes[1, :12].sum() == 0 and shapes[0, :12].sum() > 0


def test_negative_export_is_refused_with_ECS1010():
    """ECS1010 (a consumption value cannot be negative) holds for every measurement quantity: the direction is the
    quantity."""
    m = _export_mpans().iloc[[1]].reset_index(drop=True)
    wh = np.full((1, 48), 10, np.int32)
    wh[0, 20] = -5
    with verifies('ECS1010'):
        assert check_frame(m, wh, np.zeros(wh.shape, np.int8), np.zeros(wh.shape, np.int8), mq='AE')[0] == 'ECS1010'


def _rep6(weighted_wh: int, unweighted_wh: int) -> pd.DataFrame:
    c = ISD.ccc
    w1 = int(c[(c.scaling_weight > 0) & (c.measurement_quantity == 'AI')].ccc_id.iloc[0])
    w0 = c[(c.scaling_weight == 0) & (c.measurement_quantity == 'AI')].ccc_id
    assert len(w0), 'the reference ISD has a weight-0 CCC'
    rows = []
    for p in range(1, 49):
        rows.append(('_A', 'SUPA', 'BMUA', w1, 'C', p, 1, weighted_wh))
        rows.append(('_A', 'SUPA', 'BMUA', int(w0.iloc[0]), 'C', p, 1, unweighted_wh))
    return pd.DataFrame(rows, columns=['gsp_group', 'supplier', 'bmu', 'ccc_id', 'component', 'period', 'mpans', 'wh'])


def test_a_factor_that_cannot_be_formed_is_an_exception_not_a_silent_one():
    "Σ(weight × uncorrected) ≤ 0 with a take to meet: the period is reported as an exception with its code."
    rep6 = _rep6(0, 1000)
    take = {'import': np.full(48, 1100.0), 'export': np.zeros(48)}
    with verifies('BP020', 'ASM-GGC-FORMULA'):
        corr, factors = correct(rep6, take, ISD)
        assert 'exception' in factors and (factors.exception == 'REF0334').all()
        assert np.allclose(factors.import_unallocated_wh, 100.0)


def test_take_stand_in_defaults_a_missing_llf_class_as_the_mds_does():
    "A distributor without an LLF class in ISD: the take stand-in uses the MDS's default, not NaN."
    m = _export_mpans().assign(distributor_id='99')
    true = np.full((2, 48), 100, np.int32)
    with verifies('ASM-LLF-DEFAULT', 'ASM-GSP-TAKE'):
        take = gsp_group_take(true, m, ISD, noise=0.0)
        assert np.isfinite(take['import']).all() and np.isfinite(take['export']).all()
        assert take['import'][0] == pytest.approx(100 * 1.08)


def test_a_take_of_the_wrong_length_is_refused():
    "A 50-value take for a 48-period day would leave two periods unallocated: refused."
    rep6 = _rep6(1000, 0)
    with verifies('BP020'):
        with pytest.raises(MhhsError) as e:
            correct(rep6, {'import': np.full(50, 1000.0), 'export': np.zeros(50)}, ISD, periods=48)
        assert e.value.code == 'REF0332'


def test_rep003_counts_mpans_per_direction():
    "REP-003's MPAN count on an import row counts import MPANs only."
    m = _export_mpans()
    wh = np.full((2, 48), 100, np.int32)
    with verifies('REP-003'):
        rep6, dflt = local_volumes(DAY, m, {DAY: wh}, ISD)
        corr, _ = correct(rep6, {'import': np.full(48, 108.0), 'export': np.full(48, 108.0)}, ISD)
        r3 = allocate(corr, dflt)['REP-003']
        assert set(r3[r3.direction == 'import'].mpans) == {1} and set(r3[r3.direction == 'export'].mpans) == {1}


def test_a_run_is_reproducible_same_inputs_same_bytes():
    """Two settlement services over the same MDS with the same clock keep byte-identical runs and reports (nothing reads
    the wall clock)."""
    spec = MarketSpec(2000, seed=5)
    a = spec.day(spec.gsp_groups[0], DAY)
    take = gsp_group_take(a.true_wh, a.mpans, spec.isd)
    sub = process(DayData(a.day, a.mpans, a.metered_wh.copy()))  # as the data services submit it (no negatives)
    mds = MarketWideDataService()
    mds.load_day(
        DAY,
        a.mpans,
        sub.wh,
        sub.quality,
        sub.reason,
        received_at=dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(6), UTC),
    )
    fixed = lambda: dt.datetime(2026, 2, 5, 9, 30, tzinfo=UTC)
    dumps = []
    with verifies('BP020', 'REF-RUN-CALENDAR'):
        for _ in range(2):
            st = SettlementService(mds, spec.isd, clock=fixed)
            rid = st.run(DAY, 'SF', a.mpans, take, reports=True)
            msgs = st.report_messages(rid)
            assert all(
                m['payload']['CommonBlock']['S1']['senderTimestamp'].startswith('2026-02-05T09:30') for _, _, m in msgs
            )
            dumps.append(
                ('\n'.join(st.con.iterdump()), [json.dumps(unpack_report(ch, m), sort_keys=True) for ch, _, m in msgs])
            )
        assert dumps[0][0] == dumps[1][0]  # the database, byte for byte
        assert dumps[0][1] == dumps[1][1]  # every report inside its message


def test_the_calculation_layer_is_pure(monkeypatch):
    """settle_gsp_day touches no database and no clock: with both made to fail it still settles, and twice gives the
    same frames."""
    import sqlite3, time as _time
    from mhhs_ref.calc import settle_gsp_day
    from mhhs_ref.dde import DemandDisconnectionEvent

    spec = MarketSpec(1500, seed=6)
    a = spec.day(spec.gsp_groups[0], DAY)
    take = gsp_group_take(a.true_wh, a.mpans, spec.isd)
    ev = DemandDisconnectionEvent(str(DAY), 35, 38, list(a.mpans.mpan.head(20)))

    def refuse(*a, **k):
        raise AssertionError('the calculation layer must not use a database or a clock')

    with verifies('BP019', 'BP020', 'BP013'):
        with monkeypatch.context() as guard:
            guard.setattr(sqlite3, 'connect', refuse)
            guard.setattr(_time, 'time', refuse)
            r1 = settle_gsp_day(DAY, a.mpans, {DAY: a.metered_wh.copy()}, take, spec.isd, events=(ev,))
            r2 = settle_gsp_day(DAY, a.mpans, {DAY: a.metered_wh.copy()}, take, spec.isd, events=(ev,))
        for k in ('REP-003', 'REP-004', 'REP-007'):
            pd.testing.assert_frame_equal(r1.reports[k], r2.reports[k])
        pd.testing.assert_frame_equal(r1.factors, r2.factors)
        assert r1.dde is not None and r1.dde.dde_wh.sum() > 0
