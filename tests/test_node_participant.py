"""A participant written in Node.js (standard library only) from the protocol page, against the sandbox over real HTTP.

Done means: it passes every scenario of two roles (SUP and SDS), the JSON report parses in Node, the long-lived sandbox
serves two scenarios back to back with a reset between them, and the signed request of the page's worked example comes
out the same in Node as in Python."""

import datetime as dt
import json
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from mhhs_ref.design import verifies
from mhhs_ref.dip.http import make_identity, sign_request

NODE = shutil.which('node')
PARTICIPANT = Path(__file__).parent / 'node_participant' / 'participant.mjs'
EXE = Path(sys.executable).with_name('mhhs-ref')
pytestmark = pytest.mark.skipif(NODE is None, reason='node is not installed')


def wait_for(path: Path, timeout=60.0):
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def node_participant(folder: Path):
    return subprocess.Popen([NODE, str(PARTICIPANT), str(folder)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_signed_request_example_in_node(tmp_path):
    "The protocol page's worked example: the same key, body, URL and date give the same four headers in Node."
    with verifies('DIP-P008', 'ASM-SANDBOX'):
        me = make_identity('2399000001')
        (tmp_path / 'participant-key.pem').write_bytes(me.key_pem)
        (tmp_path / 'participant-cert.pem').write_bytes(me.cert_pem)
        body = json.dumps([{'payload': {'CommonBlock': {}, 'CustomBlock': {}}}]).encode()
        (tmp_path / 'body.json').write_bytes(body)
        url = 'http://127.0.0.1:41234/dip-channel/IF-031'
        when = dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone.utc)    # the spring clock change
        py = sign_request(me, 'POST', url, body, when)
        out = subprocess.run([NODE, str(PARTICIPANT), '--sign', str(tmp_path / 'participant-key.pem'), 'POST', url,
                              py['X-DIP-Signature-Date'], str(tmp_path / 'body.json')],
                             capture_output=True, text=True, timeout=60, check=True)
        assert json.loads(out.stdout) == py


@pytest.mark.parametrize('role,dip_id,mpid,today', [
    ('SUP', '2399000001', 'PRTA', '2026-10-18'),    # the switch and loss days fall on the autumn clock change
    ('SDS', '1499000001', 'PRTD', '2026-03-30'),    # the day of consumption is the spring clock change
    ('MSS', '3199000001', 'PRTM', '2026-06-30'),
    ('ADS', '1599000001', 'PRTX', '2026-06-30'),
    ('LDSO', '2500000020', 'SOUT', '2026-10-26'),   # the consumption day (yesterday) is the autumn clock change
])
def test_node_participant_passes_every_scenario(tmp_path, role, dip_id, mpid, today):
    with verifies('ASM-SANDBOX', 'TOM-DIP'):
        out = tmp_path / 'sb'
        sb = subprocess.Popen([str(EXE), 'sandbox', '--out', str(out), '--role', role, '--dip-id', dip_id,
                               '--mpid', mpid, '--today', today, '--seed', '7', '--reply-timeout', '5', '--wait', '60'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(out / 'sandbox.json')
        node = node_participant(out)
        try:
            stdout, stderr = sb.communicate(timeout=300)
        finally:
            node.terminate()
            log = node.communicate(timeout=30)[0]
        assert sb.returncode == 0, stdout + stderr + log
        # the report parses in Node, the participant's own language
        got = subprocess.run([NODE, '-e', "const r = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));"
                              "console.log(JSON.stringify({passed: r.passed, n: r.checks.length, "
                              "scenarios: [...new Set(r.checks.map(c => c.scenario))].sort(), seed: r.run.seed}))",
                              str(out / 'conformance.json')], capture_output=True, text=True, timeout=60, check=True)
        r = json.loads(got.stdout)
        want = {'SUP': ['sup-gain', 'sup-loss'], 'SDS': ['ds-amendment', 'ds-appointment', 'ds-day', 'ds-deenergised'],
                'MSS': ['ms-appointment'],
                'ADS': ['ads-appointment'], 'LDSO': ['ldso-consumption', 'ldso-cos']}[role]
        assert r['passed'] is True and r['scenarios'] == want and r['n'] > 10 and r['seed'] == 7, r
        junit = ET.parse(out / 'conformance.xml').getroot()
        assert junit.get('failures') == '0' and int(junit.get('tests')) == r['n']
        assert (out / 'evidence.zip').exists() and 'nan' not in (out / 'conformance.html').read_text().lower()


def test_long_lived_sandbox_two_scenarios_with_reset(tmp_path):
    "`mhhs-ref sandbox serve` stays up; a test suite runs a scenario, resets, runs another, over HTTP."
    with verifies('ASM-SANDBOX', 'ASM-SANDBOX-CONTROL'):
        out = tmp_path / 'sb'
        sb = subprocess.Popen([str(EXE), 'sandbox', 'serve', '--out', str(out), '--role', 'SDS', '--dip-id',
                               '1499000001', '--mpid', 'PRTD', '--seed', '3', '--reply-timeout', '5', '--wait', '60'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        node = None
        try:
            wait_for(out / 'sandbox.json')
            info = json.loads((out / 'sandbox.json').read_text())
            node = node_participant(out)
            api = httpx.Client(base_url=info['base_url'], headers={'X-API-Key': info['api_key']}, timeout=60)
            assert '/sandbox/reset' in api.get('/openapi.json').json()['paths']
            assert api.get('/sandbox/scenarios', headers={'X-API-Key': 'wrong'}).status_code == 401
            assert api.post('/sandbox/scenarios/sup-gain/run').status_code == 400      # not an SDS scenario

            def run(sid):
                r = api.post(f'/sandbox/scenarios/{sid}/run')
                assert r.status_code == 202, r.text
                n = r.json()['run']
                for _ in range(1200):
                    v = api.get(f'/sandbox/runs/{n}').json()
                    if v['state'] in ('done', 'failed'):
                        return v
                    time.sleep(0.1)
                raise AssertionError(f'run {n} never finished')

            first = run('ds-appointment')
            assert first['state'] == 'done' and first['passed'], first.get('error') or first['report']['checks']
            reset = api.post('/sandbox/reset')
            assert reset.status_code == 200 and reset.json()['state'] == 'done'
            second = run('ds-day')
            assert second['state'] == 'done' and second['passed'], second.get('error') or second['report']['checks']
            # the reset forgot the first run: the second report holds its own scenario only
            assert {c['scenario'] for c in second['report']['checks']} == {'ds-day'}
            assert second['brief']['scenario'] == 'ds-day'
            assert sorted(p.name for p in (out / 'runs').iterdir()) == ['001-ds-appointment', '003-ds-day']
        finally:
            if node:
                node.terminate()
                node.communicate(timeout=30)
            sb.send_signal(signal.SIGINT)
            sb.communicate(timeout=60)
        assert sb.returncode == 0
