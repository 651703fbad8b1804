"""Issue 17, realism of the main job: a healthy default market has GSP Group Correction factors near 1, and each named
fault moves them the way it should and is named in the explanation the report gives (ASM-SIM-FAULTS,
ASM-SIM-TAKE-NOISE)."""

import subprocess, sys
from dataclasses import asdict, replace
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

from mhhs_ref.core import MhhsError
from mhhs_ref.design import verifies
from mhhs_ref.sim import SimConfig, explain_factors, simulate, simulate_partition

BASE = SimConfig()  # the command's defaults: 20,000 MPANs, 12 January 2026 (a winter Monday)
GROUPS = ('_A', '_H', '_P')  # the largest group, a middle one and the smallest
BAND = 0.03  # a healthy market's import factors: mean within 1 ± 0.03


@lru_cache(maxsize=None)
def _run(**changes) -> tuple[dict, dict]:
    "The chosen GSP groups' results (concatenated) and their explanation, for the default configuration with `changes`."
    cfg = replace(BASE, **changes)
    parts = [simulate_partition(asdict(cfg), g) for g in GROUPS]
    res = {k: pd.concat([p[k] for p in parts], ignore_index=True) for k in ('factors', 'factor_causes', 'exceptions')}
    return res, explain_factors(res, cfg)


def _mean(res, code='SF') -> float:
    return float(res['factors'].query('code == @code').import_ggcf.mean())


def test_a_healthy_default_market_has_factors_near_one():
    res, ex = _run()
    with verifies('ASM-DS-LOADSHAPE-FALLBACK', 'ASM-MARKET-SHAPES', 'ASM-UMS-INVENTORY', 'ASM-SIM-TAKE-NOISE'):
        for code in ('II', 'SF'):
            f = res['factors'].query('code == @code')
            assert abs(f.import_ggcf.mean() - 1) <= BAND, (code, f.import_ggcf.mean())
            assert f.groupby('gsp_group').import_ggcf.mean().sub(1).abs().max() <= BAND
            assert 0.85 < f.import_ggcf.min() and f.import_ggcf.max() < 1.15, (f.import_ggcf.min(), f.import_ggcf.max())
            assert ex[code]['verdict'].startswith(f'{code}: healthy')


def test_the_explanation_adds_up():
    "The causes account for the gap: what is left over is small, and 1 + gap ÷ weighted volume is the factors' level."
    res, ex = _run()
    with verifies('ASM-GGC-FORMULA', 'ASM-SCALING-WEIGHTS'):
        for code in ('II', 'SF'):
            e = ex[code]
            assert abs(e['table'].loc['other', 'MWh']) < 0.001 * e['take_mwh']
            explained = 1 + (e['take_mwh'] - e['uncorrected_mwh']) / e['weighted_mwh']
            assert abs(explained - e['mean']) < 0.01, (explained, e['mean'])
            assert 0.3 < e['weighted_mwh'] / e['uncorrected_mwh'] < 0.7  # the advanced segment's weight is 0


def test_a_data_service_submitting_zeros_raises_the_factors_and_is_named():
    healthy, _ = _run()
    res, ex = _run(ds_fault='largest', ds_fault_mode='zero')
    with verifies('ASM-SIM-FAULTS'):
        assert _mean(res) > _mean(healthy) + 0.05  # volume lost: the take exceeds the suppliers' volume
        e = ex['SF']
        assert e['table'].loc['fault', 'factor points'] > 5
        assert 'not healthy' in e['verdict'] and 'data service fault' in e['verdict'] and 'fault +' in e['verdict']
        assert 'submitted zeros' in e['text']


def test_a_data_service_never_submitting_is_defaulted_and_named():
    """Missing data is defaulted by the MDS from shapes that aim at the truth: the factors hardly move, the defaults
    rise."""
    healthy, _ = _run()
    res, ex = _run(ds_fault='largest', ds_fault_mode='missing')
    with verifies('ASM-SIM-FAULTS', 'ASM-MDS-DEFAULTING'):
        assert abs(_mean(res) - _mean(healthy)) < 0.02
        dflt = lambda r: int(r['exceptions'].query("code == 'SF'").mpans_defaulted.sum())
        assert dflt(res) > dflt(healthy) + 100
        e = ex['SF']
        assert (
            e['table'].loc['fault', 'MWh'] != 0
            and 'data service fault' in e['verdict']
            and 'MDS defaulted them' in e['text']
        )


@pytest.mark.parametrize('error', [0.02, -0.02])
def test_a_gsp_meter_error_shifts_the_factors_by_the_error_over_the_weighted_share(error):
    healthy, _ = _run()
    res, ex = _run(gsp_meter_error=error)
    e = ex['SF']
    with verifies('ASM-SIM-FAULTS', 'ASM-SCALING-WEIGHTS'):
        shift = _mean(res) - _mean(healthy)
        expected = e['take_mwh'] * error / (1 + error) / e['weighted_mwh']  # the take's excess ÷ the weighted volume
        assert shift * error > 0 and abs(shift - expected) < 0.3 * abs(expected), (shift, expected)
        assert 'GSP meter error' in e['verdict'] and f'{error:+.1%}' in e['text']


def test_the_report_shows_factors_per_group_and_the_causes(tmp_path):
    s = simulate(tmp_path / 'run', SimConfig(mpans=1_000, process_mpans=50, gsp_meter_error=0.03))
    html = (tmp_path / 'run' / 'report.html').read_text()
    with verifies('ASM-SIM-FAULTS'):
        assert 'By GSP group' in html and 'Why the factors are where they are' in html
        assert all(f'<td>{g}</td>' in html for g in ('_A', '_H', '_P'))  # the per-group table
        assert 'GSP meter error' in html and 'factor points' in html and 'not healthy' in s['correction']
        test = lambda name: set(pd.read_parquet(tmp_path / 'run' / name).gsp_group)
        assert test('factor_causes.parquet') == test('factors.parquet') and len(test('factors.parquet')) == 14


def test_fault_options_are_checked_and_offered_by_the_command(tmp_path):
    for bad in (
        dict(ds_fault_mode='garbled'),
        dict(ds_fault_share=1.5),
        dict(gsp_meter_error=0.5),
        dict(take_noise=-0.01),
    ):
        with pytest.raises(MhhsError, match='REF0400'):
            replace(BASE, **bad).check()
    with pytest.raises(MhhsError, match='not a data service'):
        simulate(tmp_path / 'x', SimConfig(mpans=200, process_mpans=20, ds_fault='9999999999'))
    assert not (tmp_path / 'x').exists()
    out = subprocess.run(
        [str(Path(sys.executable).parent / 'mhhs-ref'), 'simulate', '--help'],
        capture_output=True,
        text=True,
        env={'COLUMNS': '200', 'PATH': '/usr/bin:/bin'},
    ).stdout
    for opt in ('--ds-fault', '--ds-fault-share', '--ds-fault-mode', '--gsp-meter-error', '--take-noise'):
        assert opt in out
