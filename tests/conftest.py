"""Shared pytest set-up: the traceability results file, and the traceability gate last."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / '_trace' / 'results.jsonl'


def pytest_configure(config):
    # every `verifies` in this run (notebook cells and pytest tests alike) appends here
    os.environ.setdefault('MHHS_TRACE_RESULTS', str(RESULTS))
    config._mhhs_results = Path(os.environ['MHHS_TRACE_RESULTS'])


# The edit-loop tier, `pytest -m fast`: modules of unit, scenario and property tests that start no notebook, server,
# browser or simulation. Everything else (and these too) runs in the full suite, as CI runs it.
FAST_MODULES = {
    'test_project',
    'test_scenarios',
    'test_settlement_scenarios',
    'test_settlement_properties',
    'test_settlement_fixes',
    'test_lss_fixes',
    'test_mds_feed',
    'test_run_calendar',
    'test_schemas',
}


def pytest_collection_modifyitems(session, config, items):
    for i in items:
        if i.path.stem in FAST_MODULES and not i.get_closest_marker('slow'):
            i.add_marker(pytest.mark.fast)
    # a full run starts the results afresh, and the gate runs after everything else; a run narrowed by `-m` (the fast
    # tier) or `-k` adds to the results the last full run recorded instead of wiping them
    nb_items = {i.nodeid for i in items if 'test_notebooks' in i.nodeid}
    narrowed = bool(config.option.markexpr or config.option.keyword)
    if not narrowed and nb_items and len(nb_items) == len(list((ROOT / 'nbs').glob('*.ipynb'))):
        config._mhhs_results.unlink(missing_ok=True)
    # order: notebooks (they feed the results), other tests, the conformance of every message built and the
    # browser test of the site (whose matrix page shows those results), and the traceability gate last
    rank = lambda i: (
        0
        if 'test_notebooks' in i.nodeid
        else 3
        if 'test_traceability' in i.nodeid
        else 2
        if '/browser/' in i.nodeid or 'test_conformance' in i.nodeid
        else 1
    )
    items.sort(key=rank)
    config._mhhs_full_run = any('test_notebooks' in i.nodeid for i in items)


# Every message the project builds, gathered while the suite runs (notebooks run in this process through nbdev's
# runner, so process runs, the simulation, the sandbox's parties, the services' publications and the ECS reports
# all pass here). `build_message` validates each against its event's schema as it builds it; the gathered samples
# are checked again, independently, against the published JSON Schemas by tests/test_conformance.py.
BUILT: dict[tuple[str, str], dict] = {}  # (channel, event) -> {'count': n, 'samples': [json text, ...]}
SAMPLES_PER_EVENT = 25


@pytest.fixture(autouse=True, scope='session')
def _gather_built_messages():
    import json
    from mhhs_ref import interfaces

    real = interfaces.validate_message

    def spy(channel_id, message, catalogue=None):
        out = real(channel_id, message, catalogue)
        if catalogue is None:
            s0 = out['payload']['CommonBlock']['S0']
            rec = BUILT.setdefault((channel_id, s0['eventCode'].strip('[]')), {'count': 0, 'samples': []})
            rec['count'] += 1
            if len(rec['samples']) < SAMPLES_PER_EVENT:
                rec['samples'].append(json.dumps(out))
        return out

    interfaces.validate_message = spy  # build_message looks validate_message up here at each call
    yield BUILT
    interfaces.validate_message = real
