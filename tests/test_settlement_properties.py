"""Properties of the central services' maths on random small markets (hypothesis):

- Σ corrected volume = the GSP Group Take in every period with volume to correct (to a millionth of a Wh);
- aggregates equal the sum of their parts at every level (REP-006 consumption = the defaulted half-hours; REP-003 = REP-006
  corrected; REP-004 = Σ REP-003 by supplier; REP-003A = Σ REP-003 by BM Unit);
- the same input gives the same output, whatever the block size the sums are taken in."""
import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from mhhs_ref.data_services.processing import MISSING
from mhhs_ref.design import verifies
from mhhs_ref.isd import reference_isd
from mhhs_ref.mds import default_missing, local_volumes
from mhhs_ref.time import to_local_day
from mhhs_ref.vas import allocate, correct

ISD = reference_isd()
# (connection type, segment, domestic, direction) combinations that have a CCC in the reference ISD
KINDS = [('W', 'S', True, 'I'), ('W', 'S', False, 'I'), ('L', 'S', False, 'I'), ('W', 'S', True, 'E'), ('W', 'A', False, 'I'),
         ('H', 'A', False, 'I'), ('E', 'A', False, 'E'), ('U', 'U', False, 'I')]
DAYS = [dt.date(2026, 1, 14), dt.date(2026, 3, 29), dt.date(2026, 6, 14), dt.date(2026, 10, 25)]   # 48, 46, 48, 50 periods


@st.composite
def markets(draw):
    n = draw(st.integers(1, 40))
    rows = []
    for i in range(n):
        ct, seg, dom, ed = draw(st.sampled_from(KINDS))
        rows.append({'mpan': f"20{i:011d}", 'distributor_id': draw(st.sampled_from(['10', '20', '23'])), 'gsp_group': '_H',
                     'supplier': draw(st.sampled_from(['SUPA', 'SUPB', 'SUPC'])), 'bmu': draw(st.sampled_from(['B1', 'B2'])),
                     'connection_type': ct, 'market_segment': seg, 'domestic_premise': dom, 'energy_direction': ed,
                     'energisation': draw(st.sampled_from(['E', 'E', 'E', 'D'])), 'annual_kwh': float(draw(st.integers(0, 50_000)))})
    mpans = pd.DataFrame(rows)
    for c in ('distributor_id', 'gsp_group', 'supplier', 'bmu', 'connection_type', 'market_segment', 'energy_direction', 'energisation'):
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
    with verifies('BP019', 'BP020', 'REP-006', 'REP-003', 'REP-003A', 'REP-004', 'ASM-GGC-FORMULA', 'ASM-COLUMNAR-SUMS'):
        rep6, dflt = local_volumes(day, mpans, arrays, ISD)
        width = int(rep6.period.max())
        take = {k: v[:width] for k, v in take.items()}
        corr, factors = correct(rep6, take, ISD)
        rep = allocate(corr, dflt)
        # REP-006 consumption is exactly the defaulted half-hours of the local day
        filled = to_local_day(day, {d: default_missing(d, mpans, a)[0] for d, a in arrays.items()})
        c = rep6[rep6.component == 'C']
        assert int(c.wh.sum()) == int(filled.sum())
        assert c.groupby('period').wh.sum().reindex(range(1, width + 1), fill_value=0).tolist() == filled.sum(axis=0).tolist()
        assert int(c.drop_duplicates(['supplier', 'bmu', 'ccc_id']).mpans.sum()) == len(mpans)
        # Σ corrected = take wherever there is weighted volume to correct; the volume itself elsewhere
        for direction in ('import', 'export'):
            g = corr[corr.direction == direction]
            if g.empty: continue
            got = g.groupby('period').corrected_wh.sum().reindex(range(1, width + 1), fill_value=0).to_numpy()
            weighted = (g.wh * g.weight).groupby(g.period).sum().reindex(range(1, width + 1), fill_value=0).to_numpy()
            raw = g.groupby('period').wh.sum().reindex(range(1, width + 1), fill_value=0).to_numpy()
            want = np.where(weighted > 0, take[direction], raw)
            assert np.allclose(got, want, rtol=1e-12, atol=1e-6), direction
        # each level is the sum of the one below (reports in MWh to 6 dp: a Wh per row)
        r3, r4, r3a = rep['REP-003'], rep['REP-004'], rep['REP-003A']
        assert abs(r3.allocated_mwh.sum() - corr.corrected_wh.sum() / 1e6) <= 1e-6 * max(1, len(r3))
        by_sup = r3.groupby(['supplier', 'direction', 'period']).allocated_mwh.sum()
        assert np.allclose(r4.set_index(['supplier', 'direction', 'period']).deemed_take_mwh.sort_index(), by_sup.sort_index(), atol=1e-6 * 40)
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
