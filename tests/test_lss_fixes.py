"""The LSS's settlement-maths fixes: off-peak in local settlement periods, export load shapes, and a category view the
LSS learns from its own inputs (IF-021, IF-026)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from mhhs_ref.core import MhhsError
from mhhs_ref.data_services import processing as dp
from mhhs_ref.interfaces import build_message
from mhhs_ref.lss import LoadShapingService, LssRules, day_shapes, offpeak_mask, shape_rows, shapes_source
from mhhs_ref.mds import default_missing
from mhhs_ref.time import wire_midnight
from mhhs_ref.time import daylight, local_period, utc_period_ends

P48 = [f'p{k:02d}' for k in range(1, 49)]


def _offpeak_by_hand(day):
    "Off-peak UTC periods (1-48) of `day`, the slow way: each period end's local settlement period, 2-15."
    return [k + 1 for k, e in enumerate(utc_period_ends(day)) if 2 <= local_period(e)[1] <= 15]


def _mpans(n, gsp='_H', ed='I', dom=True):
    return pd.DataFrame(
        {
            'mpan': [f'{gsp}{ed}{i:04d}' for i in range(n)],
            'gsp_group': gsp,
            'connection_type': 'W',
            'market_segment': 'S',
            'domestic_premise': dom,
            'energy_direction': ed,
        }
    )


# 1. off-peak -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'day, want',
    [
        ('2026-01-14', list(range(2, 16))),  # GMT: UTC = local
        ('2026-07-14', list(range(1, 14)) + [48]),  # BST: the same local periods, one UTC hour earlier
        ('2026-03-29', list(range(2, 16)) + [48]),  # spring forward: 46 local periods, 15 off-peak UTC periods
        ('2026-10-25', list(range(1, 14))),  # fall back: 50 local periods, 13 off-peak UTC periods
    ],
)
def test_offpeak_is_local_settlement_periods(day, want):
    got = (np.flatnonzero(offpeak_mask(day)) + 1).tolist()
    assert got == want == _offpeak_by_hand(day)


@pytest.mark.parametrize('day', ['2026-03-29', '2026-07-14', '2026-10-25'])
def test_offpeak_total_of_if023(day):
    "The stored off-peak and peak totals (DI-044, DI-045) split the day total by local settlement period."
    mp = _mpans(30)
    wh = np.tile(np.arange(1, 49, dtype=np.int32) * 10, (30, 1))  # a different value in every UTC period
    lss = LoadShapingService()
    lss.run(day, mp, wh, np.zeros(wh.shape, np.int8))
    r = lss.shapes(day).query("gsp_group == '_H'").iloc[0]
    off = [k - 1 for k in _offpeak_by_hand(day)]
    assert r.offpeak_wh == int(r['values'][off].sum())
    assert r.peak_wh == r.day_wh - r.offpeak_wh
    ((_, b912),) = [
        m for m in lss.messages(day, now=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)) if m[0] == 'IF-023'
    ]
    tot = b912['payload']['CustomBlock']['B912List'][0]['LSGTotals'][0]['LSTTotals'][0]
    assert float(tot['loadShapeDayOffPeakTotal']) * 1000 == pytest.approx(r.offpeak_wh)


# 2. export load shapes ---------------------------------------------------------------------------------------------


def _dark(day):
    rise, sset = daylight(day)
    h = np.arange(48) / 2 + 0.25
    return (h < rise) | (h > sset)


def _lss_with_export(day):
    imp, exp = _mpans(30), _mpans(3, ed='E')
    wh = np.vstack([np.tile(np.r_[np.full(24, 50), np.full(24, 150)], (30, 1)), np.full((3, 48), 40)]).astype(np.int32)
    lss = LoadShapingService()
    lss.run(day, pd.concat([imp, exp], ignore_index=True), wh, np.zeros(wh.shape, np.int8))
    return lss


def test_export_backstop_is_zero_at_night():
    day = '2026-01-14'
    s = day_shapes(day, _mpans(3, ed='E'), np.full((3, 48), 40, np.int32), np.zeros((3, 48), np.int8))
    assert set(s.flag) == {'E'} and set(s.mq) == {'AE'}
    for v in s['values']:
        assert v.sum() > 0 and (v[_dark(day)] == 0).all()


def test_source_serves_each_measurement_quantity():
    day = '2026-01-14'
    lss = _lss_with_export(day)
    keys = pd.DataFrame(
        {
            'gsp_group': ['_H', '_H'],
            'connection_type': 'W',
            'market_segment': 'S',
            'domestic_premise': True,
            'mq': ['AI', 'AE'],
        }
    )
    got = lss.source()(day, keys)
    ai, ae = got[P48].to_numpy()
    assert (ae[_dark(day)] == 0).all() and ae.sum() > 0
    assert ai[0] == pytest.approx(0.05) and ai[47] == pytest.approx(0.15)  # import: the contributors' own shape
    no_mq = lss.source(mq='AE')(day, keys.drop(columns='mq').iloc[:1])
    assert (no_mq[P48].to_numpy() == ae).all() and (no_mq.mq == 'AE').all()
    # the pure function gives the same rows from the frames alone
    frame = lss.shapes(day)
    assert (shape_rows(frame, keys)[P48].to_numpy() == got[P48].to_numpy()).all()
    assert (shapes_source({day: frame})(day, keys)[P48].to_numpy() == got[P48].to_numpy()).all()
    with pytest.raises(MhhsError, match='REF0310'):
        shapes_source({})(day, keys)
    with pytest.raises(MhhsError, match='REF0300'):
        shape_rows(frame, keys.assign(mq='RE'))


def test_mds_defaults_export_gaps_with_export_shape():
    "The MDS's defaulting, given the LSS's shapes, fills an export MPAN's missing night with zero."
    day = '2026-01-14'
    lss = _lss_with_export(day)
    mp = _mpans(1, ed='E').assign(energisation='E', annual_kwh=1500.0)
    wh = np.full((1, 48), dp.MISSING, np.int32)
    filled, miss = default_missing(day, mp, wh, lss.source())
    assert miss.all() and filled.sum() > 0 and (filled[0, _dark(day)] == 0).all()


# 3. the category the LSS learns from IF-021 and IF-026 --------------------------------------------------------------


def _if021(mpans, day, role='SDS', dip='2000000001'):
    d = dp.DayData(
        dt.date.fromisoformat(day),
        pd.DataFrame({'mpan': mpans}),
        np.full((len(mpans), 48), 100, np.int32),
        np.zeros((len(mpans), 48), np.int8),
        np.zeros((len(mpans), 48), np.int8),
    )
    return dp.to_if021(dp.to_frame(d, mq='AI'), dip, role, now=dt.datetime(2026, 11, 2, 6, tzinfo=dt.timezone.utc))


def _if026(mpan, pc, effective):
    return build_message(
        'IF-026',
        'SSCandProfileClass',
        '1000000001',
        'REGS',
        mpan_core=mpan,
        gsp_group='_H',
        now=dt.datetime(2026, 11, 2, 6, tzinfo=dt.timezone.utc),
        response={'responseCode': 'A', 'responseMessages': []},
        blocks={
            'B032': {
                'profileClass': pc,
                'profileClassEffectiveFromDate': wire_midnight(effective),
                'SSC': None,
                'SSCEffectiveFromDate': None,
            }
        },
    )


def test_data_before_its_category_is_held_then_run(tmp_path):
    day, db = '2026-10-31', tmp_path / 'lss.db'
    lss = LoadShapingService(db, rules=LssRules(min_sample=2))
    smart, adv = ['1000000000001', '1000000000002'], ['1000000000003']
    for b in _if021(smart, day) + _if021(adv, day, role='ADS', dip='2000000002'):
        assert lss.handle('IF-021', b) == []
    with pytest.raises(MhhsError, match='REF0333'):
        lss.run_held(day)  # IF-021 first: no DPI yet, the run is refused
    for m in smart:
        lss.handle('IF-026', _if026(m, '1', '2026-01-01'))
    lss.handle('IF-026', _if026(adv[0], '5', '2026-11-01'))  # effective after the day: still unknown
    with pytest.raises(MhhsError, match=adv[0]):
        lss.run_held(day)
    lss.handle('IF-026', _if026(adv[0], '5', '2026-10-01'))
    lss.con.close()
    again = LoadShapingService(db, rules=LssRules(min_sample=2))  # a restart keeps data and facts
    assert again.run_held(day) == 1
    mp = again.held_day(day)[0].set_index('mpan')
    assert mp.loc[smart, 'market_segment'].tolist() == ['S', 'S'] and mp.loc[adv[0], 'market_segment'] == 'A'
    assert mp.loc[smart, 'domestic_premise'].tolist() == [True, True] and not mp.loc[adv[0], 'domestic_premise']
    s = again.shapes(day).dropna(subset=['gsp_group'])
    assert sorted(zip(s.market_segment, s.domestic_premise, s.flag)) == [('A', 'F', 'E'), ('S', 'T', 'A')]
    assert again.held_refusals().empty
