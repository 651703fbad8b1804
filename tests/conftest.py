"""Shared pytest set-up: the traceability results file, and the traceability gate last."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT/'_trace'/'results.jsonl'

def pytest_configure(config):
    # every `verifies` in this run (notebook cells and pytest tests alike) appends here
    os.environ.setdefault('MHHS_TRACE_RESULTS', str(RESULTS))
    config._mhhs_results = Path(os.environ['MHHS_TRACE_RESULTS'])

def pytest_collection_modifyitems(session, config, items):
    # a run that collects notebook tests starts the results afresh, and the gate runs after everything else
    if any('test_notebooks' in i.nodeid for i in items):
        config._mhhs_results.unlink(missing_ok=True)
    # order: notebooks (they feed the results), other tests, the browser test of the site (whose matrix page
    # shows those results), and the traceability gate last
    rank = lambda i: (0 if 'test_notebooks' in i.nodeid else 3 if 'test_traceability' in i.nodeid
                      else 2 if '/browser/' in i.nodeid else 1)
    items.sort(key=rank)
    config._mhhs_full_run = any('test_notebooks' in i.nodeid for i in items)
