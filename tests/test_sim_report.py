"""Issue 20, the simulation report: a run folder a person can use — CSV beside every parquet, a data dictionary of every
file and column, a report in words and units with MPIDs, drill-downs and interactive charts that need no network —
and the same seed gives the same outputs (the runs are stamped with the simulation's clock, not the wall clock)."""

import json, os, re
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

from mhhs_ref.design import verifies
from mhhs_ref.sim import SimConfig, simulate
from mhhs_ref.sim_charts import GSP_COLOURS
from mhhs_ref.sim_files import OUTPUTS
from mhhs_ref.sim_report import BUNDLE, REPORT

CHROMIUM = os.environ.get('MHHS_CHROMIUM', '/usr/bin/chromium')
SMALL = SimConfig(mpans=600, process_mpans=50)


@lru_cache(maxsize=None)
def _run(base: str, name: str) -> Path:
    out = Path(base) / name
    simulate(out, SMALL)
    return out


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    base = str(tmp_path_factory.mktemp('sim'))
    return _run(base, 'a'), _run(base, 'b')


def test_the_same_seed_gives_the_same_outputs(runs):
    """Every table is byte-identical between two runs of one seed, but for what measures the machine itself: the DIP
    journal's `duration_ms` (wall-clock time inside the hub) and the random part of its transaction ids (the hub
    makes them unguessable), and so the summary's `seconds` and `dip_p99_ms` and the report that shows them."""
    a, b = runs
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    differ = [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]
    with verifies('REF-SIM-OUTPUTS', 'REF-RUN-CALENDAR'):
        assert set(differ) <= {'dip_journal.parquet', 'dip_journal.csv', 'summary.json', REPORT}, differ
        assert {'volumes.parquet', 'factors.parquet', 'exceptions.parquet', 'bmu_volumes.parquet'}.isdisjoint(differ)
        ja, jb = (pd.read_parquet(x / 'dip_journal.parquet') for x in (a, b))
        same = [c for c in ja.columns if c not in ('txn', 'duration_ms')]
        pd.testing.assert_frame_equal(ja[same], jb[same])
        strip = lambda s: s.str.rsplit('-', n=1).str[0]  # the random suffix of a transaction id
        pd.testing.assert_series_equal(strip(ja.txn), strip(jb.txn))
        sa, sb = (json.loads((x / 'summary.json').read_text()) for x in (a, b))
        assert {k for k in sa if sa[k] != sb[k]} <= {'seconds', 'dip_p99_ms'}


def test_csv_beside_every_parquet_and_a_dictionary_of_every_column(runs):
    a = runs[0]
    dd = pd.read_csv(a / 'data_dictionary.csv', keep_default_na=False)
    md = (a / 'data_dictionary.md').read_text()
    with verifies('REF-SIM-OUTPUTS'):
        assert sorted(p.stem for p in a.glob('*.parquet')) == sorted(OUTPUTS)
        for p in a.glob('*.parquet'):
            df, csv = pd.read_parquet(p), pd.read_csv(p.with_suffix('.csv'), low_memory=False)
            assert len(csv) == len(df), p.name
            cols = set(dd[dd.file == f'{p.stem}.parquet / .csv'].column)
            assert set(df.columns) == cols, (p.name, set(df.columns) ^ cols)
            # a column of lists is spread over numbered columns in the CSV
            assert {re.sub(r'_\d+$', '', c) if c not in df.columns else c for c in csv.columns} == set(df.columns)
            assert f'## {p.stem}.parquet / .csv' in md
        assert (dd.meaning.str.len() > 0).all()
        assert set(dd[dd.unit == 'MWh'].column) >= {'mwh', 'take_mwh', 'losses_mwh', 'true_meter_mwh'}
        vols = pd.read_parquet(a / 'volumes.parquet')
        parts = pd.read_parquet(a / 'participants.parquet')
        assert vols.supplier_mpid.isin(parts[parts.role == 'SUP'].mpid).all()


def test_the_report_reads_in_words_and_units(runs):
    a = runs[0]
    html = (a / REPORT).read_text()
    vols = pd.read_parquet(a / 'volumes.parquet')
    with verifies('REF-SIM-OUTPUTS', 'ASM-GGC-FORMULA'):
        for words in ('Line losses', 'line loss factor', 'MWh', 'By GSP group', 'By supplier', 'Runs compared',
                      'II→SF', 'RF→DF', 'lowest', 'highest', 'South Wales', 'data_dictionary.md'):
            assert words in html, words
        # suppliers by MPID, their DIP ids only in the DIP id column
        top = vols.groupby('supplier_mpid').mwh.sum().idxmax()
        assert f'>{top}<' in html
        # 'none' where there is nothing: no demand disconnection, no fault
        assert re.search(r'Demand disconnection \(BP013\)</th><td>none<', html)
        assert re.search(r'Faults injected</th><td>none<', html)
        # the outlier factor's group, run, day and half-hour
        assert re.search(r'lowest \d\.\d{4} in _[A-P] [A-Za-z ]+, run SF, 2026-01-12 period \d+ \(\d\d:\d\d UTC\)',
                         html)
        # nothing fetched: the only script is the bundle beside the report
        assert re.findall(r"<script src='([^']+)'", html) == [BUNDLE] and (a / BUNDLE).stat().st_size > 100_000
        assert not re.search(r'''(src|href)=['"]https?:''', html)
        assert len(set(GSP_COLOURS)) == 14


def _need_chromium():
    if not Path(CHROMIUM).exists():
        msg = f"Chromium not found at {CHROMIUM}: run tools/bootstrap (installs Debian's chromium) or set MHHS_CHROMIUM"
        if os.environ.get('CI'):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.mark.browser
@pytest.mark.parametrize('scripts', [True, False])
def test_the_report_in_chromium_at_1366px(runs, scripts, tmp_path):
    """At a laptop's 1366 px: nothing wider than the window, no console error, no request leaves the folder, every chart
    interactive with scripts on, and drawn (SVG) with scripts off."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    a = runs[0]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--headless', '--no-sandbox', '--disable-gpu'])
        try:
            page = b.new_context(viewport={'width': 1366, 'height': 900}, java_script_enabled=scripts).new_page()
            errors, elsewhere = [], []
            page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.on('request', lambda r: None if r.url.startswith('file://') else elsewhere.append(r.url))
            page.goto((a / REPORT).as_uri())
            charts = page.locator('figure.chart')
            n = charts.count()
            assert n >= 6
            if scripts:
                page.wait_for_function(f"document.querySelectorAll('figure.chart.interactive').length === {n}",
                                       timeout=30_000)
                assert 'interactive' in page.inner_text('#js-status')
                # the run drop-down redraws the factor chart
                page.locator('#factors select').select_option('II')
            else:
                assert page.locator('figure.chart .fallback svg').count() == n
            assert page.evaluate('document.documentElement.scrollWidth') <= 1366
            page.screenshot(path=str(tmp_path / 'report.png'), full_page=True)
            with verifies('REF-SIM-OUTPUTS'):
                assert not errors and not elsewhere, (errors, elsewhere)
        finally:
            b.close()
