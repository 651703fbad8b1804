"""The test vectors round-trip: written into a folder, loaded back, and every vector held against our own code.

Messages against `validate_message` and the webhook receiver, signatures against `SignatureVerifier`, the scenario
cases — from the written copy, not from mhhs_ref/data/scenarios — through the same calculation the scenario tests run,
and two writes compared byte for byte."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import mhhs_ref
import test_scenarios as processing_scenarios  # tests/ is on sys.path (rootdir conftest, no package)
import test_settlement_scenarios as settlement_scenarios
from mhhs_ref.core import MhhsError
from mhhs_ref.design import verifies
from mhhs_ref.interfaces import channels, spec_catalogue
from mhhs_ref import vectors
from mhhs_ref.vectors import FORMAT, check_vectors, write_vectors

CODES = set(pd.read_csv(Path(mhhs_ref.__file__).parent / 'data' / 'rejection_codes.csv').code)


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp('vectors') / 'out'
    t0 = time.perf_counter()
    summary = write_vectors(out)
    print(f"write_vectors: {time.perf_counter() - t0:.1f} s, {summary}")
    return out, summary


def _strict(text: str):
    def refuse(c):
        raise ValueError(f"{c} is not JSON")

    return json.loads(text, parse_constant=refuse)


@verifies('REF-TEST-VECTORS')
def test_every_vector_holds_against_our_code(written):
    out, summary = written
    result = check_vectors(out)
    assert result['problems'] == [], result['problems'][:20]
    n = result['checked']
    assert n['messages'] == summary['messages']['valid'] + summary['messages']['invalid']
    assert n['signatures'] == summary['signatures']['valid'] + summary['signatures']['invalid']
    assert n['files'] + 1 == summary['files']


@verifies('REF-TEST-VECTORS')
def test_every_channel_and_event_covered_with_official_codes(written):
    out, summary = written
    published = {cid: ch for cid, ch in channels().items() if not ch.unpublished}
    index = _strict((out / 'messages' / 'index.json').read_text())
    assert set(index['channels']) == set(published)
    for cid, ch in published.items():
        vs = _strict((out / 'messages' / f'{cid}.json').read_text())['vectors']
        assert len({v['id'] for v in vs}) == len(vs), f"{cid}: ids not unique"
        for event in ch.events:
            mine = [v for v in vs if v['event'] == event]
            assert sum(v['valid'] for v in mine) == 1, f"{cid} [{event}]: one valid message"
            invalid = [v for v in mine if not v['valid']]
            assert len({v['code'] for v in invalid}) >= 5, f"{cid} [{event}]: kinds the validator tells apart"
            assert {v['code'] for v in invalid} <= CODES and {v['recipient_code'] for v in mine} <= CODES
    assert summary['messages']['by_kind']['bad-mpan'] >= 100 and summary['messages']['by_kind']['bad-date'] >= 50


@verifies('REF-TEST-VECTORS')
def test_signature_vectors_verify_or_refuse_as_stated(written):
    out, summary = written
    vs = {v['id']: v for v in _strict((out / 'signatures' / 'signatures.json').read_text())['vectors']}
    assert [k for k, v in vs.items() if v['valid']] == ['publish', 'pubconfig', 'empty-body', 'webhook']
    for k in ('wrong-key', 'stale-time', 'altered-body', 'other-host', 'replayed', 'missing-signature'):
        assert (vs[k]['valid'], vs[k]['code'], vs[k]['http_status']) == (False, 'REF0105', 401), k
    assert vs['webhook-altered-body']['code'] == vs['webhook-not-from-dip']['code'] == 'RCP9999'
    pub = vs['publish']
    s = pub['signed']
    assert s['signing_string'] == f"POST;{s['url'].lower()};{s['at']};{pub['arrives']['headers']['X-DIP-Content-Hash']}"
    assert (out / 'signatures' / 'keys' / 'participant.key.pem').read_bytes().startswith(b'-----BEGIN PRIVATE KEY')


@verifies('REF-TEST-VECTORS')
def test_manifest_stamps_versions_and_lists_every_file(written):
    out, _ = written
    m = _strict((out / 'manifest.json').read_text())
    assert m['format'] == FORMAT
    assert m['specification']['version'] == spec_catalogue()['source']['version'] == '2.1.0'
    assert m['project'] == {'name': 'mhhs_ref', 'version': mhhs_ref.__version__}
    present = sorted(p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file())
    assert [f['path'] for f in m['files']] == [p for p in present if p != 'manifest.json']
    assert 'README.md' in {f['path'] for f in m['files']}
    for p in out.rglob('*.json'):
        _strict(p.read_text())  # no NaN, no Infinity anywhere


@pytest.mark.parametrize('name', settlement_scenarios.CASES)
@verifies('REF-TEST-VECTORS')
def test_settlement_case_from_vectors(written, monkeypatch, name):
    out, _ = written
    root = out / 'scenarios' / 'settlement'
    assert (root / name / 'then').is_dir()
    monkeypatch.setattr(settlement_scenarios, 'ROOT', root)
    settlement_scenarios.test_settlement_scenario(name)


@pytest.mark.parametrize('name', processing_scenarios.SCENARIOS)
@verifies('REF-TEST-VECTORS')
def test_processing_case_from_vectors(written, monkeypatch, name):
    out, _ = written
    root = out / 'scenarios' / 'processing'
    monkeypatch.setattr(processing_scenarios, 'ROOT', root)
    processing_scenarios.test_processing_scenario(name)


def test_scenario_index_lists_every_case(written):
    out, summary = written
    index = _strict((out / 'scenarios' / 'index.json').read_text())
    assert summary['scenarios'] == {
        'settlement': len(settlement_scenarios.CASES),
        'processing': len(processing_scenarios.SCENARIOS),
    }
    for c in index['cases']:
        assert (out / 'scenarios' / c['note']).is_file()
        assert all((out / 'scenarios' / f).is_file() for f in c['when'] + c['then'])


def _files(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob('*')) if p.is_file()}


@verifies('REF-TEST-VECTORS')
def test_two_writes_are_byte_identical(written, tmp_path):
    out, _ = written
    first = _files(out)
    write_vectors(tmp_path / 'again')
    assert _files(tmp_path / 'again') == first
    write_vectors(out)  # a vectors folder is replaced whole, with the same bytes
    assert _files(out) == first
    assert sorted(p.name for p in out.parent.iterdir()) == ['out'], "a temporary folder was left beside out"


def test_never_deletes_what_it_did_not_write(tmp_path):
    (tmp_path / 'notes.txt').write_text('mine')
    with pytest.raises(MhhsError, match='REF0401'):
        write_vectors(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ['notes.txt']
    with pytest.raises(MhhsError, match='REF0403'):
        write_vectors(tmp_path / 'notes.txt')


def test_an_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    real, calls = vectors.message_vectors, []

    def interrupted(channel_id):
        calls.append(channel_id)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C with two channels' files written
        return real(channel_id)

    monkeypatch.setattr(vectors, 'message_vectors', interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_vectors(tmp_path / 'out')
    assert list(tmp_path.iterdir()) == []


def test_sigterm_leaves_nothing_half_written(tmp_path):
    code = "import sys, pathlib; from mhhs_ref.vectors import write_vectors; write_vectors(pathlib.Path(sys.argv[1]))"
    p = subprocess.Popen([sys.executable, '-c', code, str(tmp_path / 'out')])
    try:
        for _ in range(600):  # until the partial folder has files in it
            partial = [d for d in tmp_path.iterdir() if '.partial-' in d.name]
            if partial and any(partial[0].rglob('*.json')):
                break
            time.sleep(0.05)
        else:
            pytest.fail('the writer never started')
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) != 0
    finally:
        if p.poll() is None:
            p.kill()
    assert list(tmp_path.iterdir()) == []


def test_scenario_cases_are_package_data():
    """The cases are read from mhhs_ref/data/scenarios, package data: the package-data globs in pyproject.toml take
    every file of every case, so the wheel carries them and `mhhs-ref vectors` writes them from an installed package."""
    import tomllib

    with verifies('ASM-SANDBOX'):
        pkg = Path(mhhs_ref.__file__).resolve().parent
        assert vectors.SCENARIO_ROOT == pkg / 'data' / 'scenarios'
        assert all((vectors.SCENARIO_ROOT / s).is_dir() for s in vectors.SUITES)
        assert not (Path(__file__).resolve().parent / 'scenarios').exists()    # one copy of the cases, not two
        root = Path(__file__).resolve().parents[1]
        globs = tomllib.loads((root / 'pyproject.toml').read_text())['tool']['setuptools']['package-data']['mhhs_ref']
        taken = {p for g in globs for p in pkg.glob(g) if p.is_file()}
        files = {p for p in vectors.SCENARIO_ROOT.rglob('*') if p.is_file() and '__pycache__' not in p.parts}
        assert len(files) > 100 and files <= taken, sorted(str(p) for p in files - taken)[:5]
