"""The participant sandbox against participants written here: one that behaves, one that gets things wrong in known
ways.

Everything runs over real HTTP on loopback: the sandbox's DIP (uvicorn), the participants' webhook receivers, signed
requests."""

import datetime as dt
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mhhs_ref.core import rejection
from mhhs_ref.data_services import processing as dp
from mhhs_ref.units import wh_from_kwh
from mhhs_ref.data_services.amendment import amend_days, amended
from mhhs_ref.design import verifies
from mhhs_ref.time import wire_midnight
from mhhs_ref.sandbox import ParticipantHarness, Sandbox
from mhhs_ref.time import utc_period_ends

REPLY_S = 3.0


def cb(body):
    return body['payload']['CommonBlock']


def cu(body):
    return body['payload'].get('CustomBlock') or {}


_APP = {
    'DSApp': (
        'B071',
        'proposedDataServiceDIPID',
        'proposedDataServiceMPID',
        'proposedDataServiceDIPEffectiveFromDate',
        'contractReferenceDataService',
        'SDS',
    ),
    'MSApp': (
        'B070',
        'proposedMeteringServiceDIPID',
        'proposedMeteringServiceMPID',
        'proposedMeteringServiceDIPEffectiveFromDate',
        'contractReferenceMeteringService',
        'MSS',
    ),
}
# what a DSApp's B071 carries besides the service (DIP API v2.1.0): no nominated MDR, half-hourly consent, domestic, no
# fall-back read frequency
_B071_REST = {
    'supplierNominatedMDRDIPID': None,
    'supplierNominatedMDRMPID': None,
    'supplierNominatedMDREffectiveFromDate': None,
    'supplierProposedConsentGranularity': 'H',
    'supplierProposedDomesticIndicator': True,
    'traditionalFallBackReadFrequency': None,
}


class Supplier:
    "A supplier's system. `faults`: a set of the mistakes it makes."

    def __init__(self, faults=()):
        self.faults, self.h = set(faults), None

    def brief(self, sid):
        return json.loads((self.h.folder / f'scenario-{sid}.json').read_text())

    def appointment(self, event, mpan, sp, mpid, day, scenario, css, answering):
        key, dk, mk, fk, ck, _ = _APP[event]
        blocks = {
            key: {dk: sp, mk: mpid, fk: wire_midnight(day), ck: None, 'appointmentScenario': scenario}
            | (_B071_REST if key == 'B071' else {})
        }
        if css:
            blocks['B013'] = {'CSSRegistrationID': css}
        ch, msg = self.h.message('IF-031', event, mpan, blocks, answering=answering)
        if 'no-correlation' in self.faults:
            cb(msg)['S1']['senderCorrelationID'] = None
        return ch, msg

    def react(self, channel, body):
        mpan = cb(body)['M0']['MPANCore']
        if channel == 'IF-002':
            if 'late' in self.faults:
                time.sleep(REPLY_S + 1.5)
            b = self.brief('sup-gain')
            day = pd.Timestamp(b['switch_day']).date() + pd.Timedelta(days=1 if 'wrong-day' in self.faults else 0)
            scenario = 'CSP' if 'wrong-scenario' in self.faults else 'COS'
            css = cu(body)['B013']['CSSRegistrationID']
            return [
                self.appointment(ev, mpan, sp, mpid, day, scenario, css, body)
                for ev in (('MSApp',) if 'ms-only' in self.faults else ('DSApp', 'MSApp'))
                for sp, mpid in [next(iter(b['providers'][_APP[ev][5]].items()))]
            ]
        if (
            channel == 'IF-037'
            and 'appoint-after-loss' in self.faults
            and cb(body)['S0']['eventCode'].strip('[]') == 'DSDeApp'
        ):
            if not (self.h.folder / 'scenario-sup-loss.json').exists() or self.brief('sup-loss')['mpan'] != mpan:
                return []
            b = self.brief('sup-loss')
            day = pd.Timestamp(b['loss_day']).date() + pd.Timedelta(days=2)
            return [self.appointment('DSApp', mpan, '1400000002', 'DABS', day, 'CSP', None, None)]
        return []


class DataService:
    "A smart data service's system (processing with mhhs_ref's own functions). `faults`: the mistakes it makes."

    def __init__(self, faults=()):
        self.faults, self.h, self.got, self.done = set(faults), None, {}, set()
        self.frames, self.refs = {}, set()      # what it submitted, per (MPAN, day); amendment references taken

    def react(self, channel, body):
        if channel == 'IF-033':
            c = cu(body)
            ok = (c.get('B071') or {}).get(
                'contractReferenceDataService'
            ) == 'SANDBOX-OK' or 'accept-all' in self.faults
            if 'ignore-unknown' in self.faults and not ok:
                return []
            blocks = {k: c[k] for k in ('B012', 'B013', 'B070', 'B071') if k in c} | {
                'B007': {
                    'responseCode': 'A' if ok else 'R',
                    'proposedAppointmentResponseCode': 'SP000' if ok else 'SP002',
                }
            }
            return [self.h.message('IF-034', 'DSAppSPResponse', cb(body)['M0']['MPANCore'], blocks, answering=body)]
        if channel == 'IF-027':
            return self.amend(body)
        if channel == 'IF-064':
            for d in cu(body)['B941List']:
                day = pd.Timestamp(d['settlementDay']['settlementDayDate']).date()
                grid = {pd.Timestamp(e): k for k, e in enumerate(utc_period_ends(day))}
                wh = np.full(48, dp.MISSING, np.int32)
                for p in d['MDRConsumptionPeriods']:
                    wh[grid[pd.Timestamp(p['sp'])]] = wh_from_kwh(p['v'])
                self.got[(cb(body)['M0']['MPANCore'], day)] = wh
        return []

    def amend(self, body):
        "IF-027: IF-028 for each request (DSCA001 for days it holds nothing for), the restated days as IF-021."
        mpan, out, new = cb(body)['M0']['MPANCore'], [], []
        for block in cu(body)['B902List']:
            for req in block['supplierConsumptionAmendmentRequests']:
                days = amend_days(req)
                ref = req['consumptionAmendmentSupplierReference']
                code = ('DSCA010' if ref in self.refs else None if all((mpan, d) in self.frames for d in days)
                        else 'DSCA001')
                if 'accept-amendments' in self.faults:
                    code = None
                r0 = ({'responseCode': 'A', 'responseMessages': []} if code is None
                      else {'responseCode': 'R', 'responseMessages': [f'{code} - {rejection(code).meaning}']})
                b902 = {'B902List': [{'MQID': block['MQID'], 'supplierConsumptionAmendmentRequests': [req]}]}
                out.append(self.h.message('IF-028', 'ConsumptionAmendment', mpan, b902, answering=body,
                                          primary=[cb(body)['S1']['senderDIPID']], response=r0))
                if code is None and all((mpan, d) in self.frames for d in days):
                    self.refs.add(ref)
                    frame = amended(pd.concat([self.frames[(mpan, d)] for d in days], ignore_index=True), req, 'smart')
                    if 'no-arc' in self.faults:
                        frame = frame.assign(arc=None)
                    new.append(frame)
        if new:
            out += [('IF-021', m) for m in dp.to_if021(pd.concat(new, ignore_index=True), self.h.dip_id, 'SDS')]
        return out

    def idle(self):
        "Submit a day once its reads have come: the day and MPANs of the day scenario whose MPANs were read."
        got = {m for m, _ in self.got}
        files = [self.h.folder / f'scenario-{sid}.json' for sid in ('ds-day', 'ds-deenergised', 'ds-amendment')]
        briefs = [json.loads(f.read_text()) for f in files if f.exists()]
        b = next((b for b in briefs if got & set(b['mpans']) and b['scenario'] not in self.done), None)
        if b is None:
            return []
        self.done.add(b['scenario'])
        day = pd.Timestamp(b['day']).date()
        mpans = sorted(b['mpans'])
        mp = pd.DataFrame(
            [
                {
                    'mpan': m,
                    **b['mpans'][m],
                    'energy_direction': 'I',
                    'metering': 'smart',
                    'consent': 'H',
                    'annual_kwh': 3650.0,
                }
                for m in mpans
            ]
        )
        wh = np.stack([self.got.get((m, day), np.full(48, dp.MISSING, np.int32)) for m in mpans])
        frame = dp.to_frame(dp.process(dp.DayData(day, mp, wh), day_quantity_wh=np.full(len(mpans), -1, np.int64)))
        for m, g in frame.groupby('mpan', sort=False):
            self.frames[(m, day)] = g.reset_index(drop=True)
        out = []
        for m, msg in zip(mpans, dp.to_if021(frame, self.h.dip_id, 'SDS')):
            periods = cu(msg)['B900']['settlementDayConsumptionPeriods'][0]['consumptionPeriods']
            if 'no-reason' in self.faults:
                for p in periods:
                    if p['q'] not in ('A', 'A1', 'A2', 'A3'):
                        p['e'] = None
            if 'estimate-deenergised' in self.faults and (m, day) not in self.got:
                for p in periods:
                    p.update(v='0.100', q='E5', e='4')   # an estimate other than zero on a de-energised MPAN
            if 'silent-skipped' in self.faults and (m, day) not in self.got:
                msg['payload']['CustomBlock'].pop(
                    'B900'
                )  # a malformed message for the silent meter: the DIP refuses it
            out.append(('IF-021', msg))
        return out


class MeteringService:
    "A metering service's system: answers appointment requests by contract (B070), like the careful data service."

    def __init__(self, faults=()):
        self.faults, self.h = set(faults), None

    def react(self, channel, body):
        if channel != 'IF-033':
            return []
        c = cu(body)
        contract = (c.get('B070') or {}).get('contractReferenceMeteringService')
        ok = contract == 'SANDBOX-OK' or 'accept-all' in self.faults
        blocks = {k: c[k] for k in ('B012', 'B013', 'B070', 'B071') if k in c} | {
            'B007': {'responseCode': 'A' if ok else 'R', 'proposedAppointmentResponseCode': 'SP000' if ok else 'SP002'}
        }
        return [self.h.message('IF-034', 'MSAppSPResponse', cb(body)['M0']['MPANCore'], blocks, answering=body)]


def run_sandbox(tmp_path, role, dip_id, mpid, participant, scenarios, mode='ok', today=None, seed=None,
                after_start=None):
    sb = Sandbox(tmp_path / 'sb', dip_id=dip_id, role=role, mpid=mpid, reply_timeout_s=REPLY_S, today=today, seed=seed)
    sb.start()
    h = ParticipantHarness(tmp_path / 'sb', participant.react, getattr(participant, 'idle', None))
    participant.h = h
    h.receiver.mode = mode
    h.start()
    if after_start:
        after_start(h)
    try:
        return sb.play(*scenarios, wait_s=10)
    finally:
        h.stop()
        sb.stop()


def test_supplier_correct_and_wrong(tmp_path):
    with verifies('ASM-SANDBOX', 'BP001'):
        good = run_sandbox(tmp_path / 'good', 'SUP', '2399000001', 'PRTA', Supplier(), ['sup-gain', 'sup-loss'])
        assert good.passed, good.failures().to_string()
        assert set(good.checks.scenario) == {'sup-gain', 'sup-loss'} and len(good.checks) >= 15
        bad = run_sandbox(
            tmp_path / 'bad',
            'SUP',
            '2399000001',
            'PRTA',
            Supplier({'wrong-scenario', 'wrong-day', 'no-correlation', 'appoint-after-loss'}),
            ['sup-gain', 'sup-loss'],
        )
        f = bad.failures()
        assert not bad.passed
        steps = set(zip(f.scenario, f.kind))
        assert {
            ('sup-gain', 'content'),
            ('sup-gain', 'sequence'),
            ('sup-gain', 'outcome'),
            ('sup-loss', 'codes'),
        } <= steps, f.to_string()
        assert (
            f[f.scenario == 'sup-loss'].code.str.startswith('REG').any()
        )  # Registration's refusal code is in the report


def test_data_service_correct_and_wrong(tmp_path):
    with verifies('ASM-SANDBOX', 'BP003', 'BP004', 'BP005', 'IF-021'):
        good = run_sandbox(tmp_path / 'good', 'SDS', '1499000001', 'PRTD', DataService(), ['ds-appointment', 'ds-day'])
        assert good.passed, good.failures().to_string()
        bad = run_sandbox(
            tmp_path / 'bad',
            'SDS',
            '1499000001',
            'PRTD',
            DataService({'ignore-unknown', 'no-reason', 'silent-skipped'}),
            ['ds-appointment', 'ds-day'],
        )
        f = bad.failures()
        assert not bad.passed
        codes = set(f.code.dropna())
        assert {'REF0413', 'ECS1015', 'MSG1001'} <= codes, (
            f.to_string()
        )  # no answer in time; estimates without reason; a malformed message
        p = bad.write(tmp_path / 'report')
        assert 'FAIL' in p.read_text()
        check_report_files(tmp_path / 'report', passed=False)


def _no_nan(name):
    raise ValueError(f"{name} in conformance.json")


def check_report_files(folder, passed):
    "Strict JSON (a NaN would fail), JUnit XML beside it, HTML without Python's None/nan/dict syntax, the bundle."
    import xml.etree.ElementTree as ET
    import zipfile

    doc = json.loads((folder / 'conformance.json').read_text(), parse_constant=_no_nan)
    assert doc['passed'] is passed and doc['format'] == 'mhhs-ref-conformance/1'
    assert all(c['code'] is None or isinstance(c['code'], str) for c in doc['checks'])
    assert doc['run']['spec_version'] == '2.1.0' and doc['run']['tool_version']
    junit = ET.parse(folder / 'conformance.xml').getroot()
    assert int(junit.get('tests')) == len(doc['checks'])
    assert int(junit.get('failures')) == sum(not c['passed'] for c in doc['checks'])
    page = (folder / 'conformance.html').read_text()
    cells = re.findall(r'<td>([^<]*)</td>', page)
    assert not {'nan', 'None', 'NaT'} & set(cells) and not any(c.startswith('{&#x27;') for c in cells)
    names = zipfile.ZipFile(folder / 'evidence.zip').namelist()
    assert {'manifest.json', 'conformance.json', 'conformance.xml', 'conformance.html',
            'messages/from-participant.jsonl', 'messages/to-participant.jsonl'} <= set(names)
    return doc


def test_webhook_down_is_reported(tmp_path):
    "A participant whose webhook answers 503 neither answers nor acknowledges: both show."
    with verifies('ASM-SANDBOX', 'DIP-P005'):
        rep = run_sandbox(tmp_path, 'SDS', '1499000001', 'PRTD', DataService(), ['ds-appointment'], mode='fail')
        f = rep.failures()
        assert {'REF0413', 'REF0414'} <= set(f.code.dropna()), f.to_string()
        # causes before consequences: the post the webhook refused comes before the reply that never came
        assert f.index[f.code == 'REF0414'].min() < f.index[f.code == 'REF0413'].min(), f.to_string()


def test_cli_sandbox(tmp_path):
    "`mhhs-ref sandbox` as a participant meets it: a process to connect to, a report, an exit status."
    with verifies('ASM-SANDBOX'):
        out = tmp_path / 'sb'
        exe = Path(sys.executable).with_name('mhhs-ref')
        for participant, status in ((DataService(), 0), (DataService({'accept-all'}), 1)):
            if out.exists():
                import shutil

                shutil.rmtree(out)
            p = subprocess.Popen(
                [
                    str(exe),
                    'sandbox',
                    '--out',
                    str(out),
                    '--role',
                    'SDS',
                    '--dip-id',
                    '1499000001',
                    '--mpid',
                    'PRTD',
                    '--scenario',
                    'ds-appointment',
                    '--wait',
                    '60',
                    '--reply-timeout',
                    str(REPLY_S),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(600):
                if (out / 'sandbox.json').exists():
                    break
                time.sleep(0.05)
            time.sleep(0.2)
            h = ParticipantHarness(out, participant.react)
            participant.h = h
            h.start()
            try:
                stdout, stderr = p.communicate(timeout=120)
            finally:
                h.stop()
            assert p.returncode == status, stdout + stderr
            assert (out / 'conformance.html').exists() and ('PASS' if status == 0 else 'FAIL') in stdout


def test_refused_late_and_wrong_messages_are_reported(tmp_path):
    """A request refused for its signature is kept and reported as refused (REF0105); a wrong event the DIP accepted is
    named; a reply later than the reply time after its own trigger fails its timing check."""
    from mhhs_ref.dip.http import make_identity

    with verifies('ASM-SANDBOX', 'DIP-P008'):
        def bad_key(h):
            h.client.identity = make_identity('2399000001')   # the right DIP id, not the registered certificate

        rep = run_sandbox(tmp_path / 'sig', 'SUP', '2399000001', 'PRTA', Supplier(), ['sup-gain'],
                          after_start=bad_key)
        f = rep.failures()
        refused = f[(f.kind == 'refused') & (f.code == 'REF0105')]
        assert set(refused.step) == {'IF-031 DSApp', 'IF-031 MSApp'}, f.to_string()
        assert set(rep.sent.code) == {'REF0105'} and rep.sent.body.notna().all()     # kept, with their bodies
        timing = f[f.kind == 'timing']
        assert (timing.index > refused.index.min()).all()                # the cause is listed before its consequence

        rep = run_sandbox(tmp_path / 'wrong', 'SUP', '2399000001', 'PRTA', Supplier({'ms-only'}), ['sup-gain'])
        f = rep.failures()
        t = f[(f.step == 'IF-031 DSApp') & (f.kind == 'timing')]
        assert len(t) == 1 and 'sent instead' in t.actual.iloc[0] and 'MSApp' in t.actual.iloc[0], f.to_string()

        rep = run_sandbox(tmp_path / 'late', 'SUP', '2399000001', 'PRTA', Supplier({'late'}), ['sup-gain'])
        f = rep.failures()
        t = f[f.kind == 'timing']
        assert set(t.step) == {'IF-031 DSApp', 'IF-031 MSApp'} and set(t.code) == {'REF0413'}, f.to_string()
        assert t.actual.str.startswith(f'nothing in {REPLY_S:g} s').all()


def _received(report):
    "What the participant was sent, per MPAN in order, each message as JSON with its keys sorted."
    out = {}
    for post in report.delivered:
        for m in post['messages'] or []:
            out.setdefault(cb(m)['M0']['MPANCore'], []).append(json.dumps(m, sort_keys=True))
    return out


def test_replayable_runs(tmp_path):
    """--today and --seed: the same day, MPANs and transaction ids whatever order the scenarios play in (each on a
    fresh market), and the same messages to the participant, byte for byte: CSS registration ids, correlation ids and
    the simulated parties' sender references included."""
    with verifies('ASM-SANDBOX'):
        a = run_sandbox(tmp_path / 'a', 'SUP', '2399000001', 'PRTA', Supplier(), ['sup-gain', 'sup-loss'],
                        today=dt.date(2026, 10, 18), seed=4)
        b = run_sandbox(tmp_path / 'b', 'SUP', '2399000001', 'PRTA', Supplier(), ['sup-loss', 'sup-gain'],
                        today=dt.date(2026, 10, 18), seed=4)
        assert a.passed and b.passed, a.failures().to_string() + b.failures().to_string()
        for sid in ('sup-gain', 'sup-loss'):
            assert a.briefs[sid] == b.briefs[sid], sid
        assert a.briefs['sup-gain']['switch_day'] == dt.date(2026, 10, 25)             # the autumn clock change
        assert a.briefs['sup-gain']['effective_from'] == '2026-10-25T00:00:00+01:00'
        # what the participant received: the same, message for message, transaction ids included
        got_a, got_b = _received(a), _received(b)
        assert got_a == got_b and sum(map(len, got_a.values())) >= 5, (got_a, got_b)
        # ... and among them the ids the simulated parties make up: CSS registration ids, Registration's references
        seen = [json.loads(m)['payload'] for ms in got_a.values() for m in ms]
        assert any('B013' in p.get('CustomBlock', {}) for p in seen)
        assert any(p['CommonBlock']['S1']['senderRoleID'] == 'REGS' for p in seen)
        # what it sent: the DIP gave each message the same transaction id
        keys = lambda r: sorted(zip(r.sent.mpan, r.sent.channel, r.sent.event, r.sent.transactionID))
        assert keys(a) == keys(b) and len(a.sent) >= 2


def test_cli_refuses_a_certificate_that_cannot_sign(tmp_path):
    "`--cert` is checked at start-up: a common name other than the DIP id, or an EC key, is one line with REF0410."
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from mhhs_ref.dip.http import make_identity

    with verifies('ASM-SANDBOX'):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '2399000001')])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=9)).sign(key, hashes.SHA256()))
        (tmp_path / 'ec.pem').write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / 'cn.pem').write_bytes(make_identity('2399000009').cert_pem)
        exe = Path(sys.executable).with_name('mhhs-ref')
        for pem, says in (('ec.pem', 'not RSA'), ('cn.pem', "common name is '2399000009'")):
            r = subprocess.run([str(exe), 'sandbox', '--out', str(tmp_path / f'out-{pem}'), '--cert',
                                str(tmp_path / pem)], capture_output=True, text=True, timeout=120)
            assert r.returncode == 2 and 'REF0410' in r.stderr and says in r.stderr, r.stderr
            assert 'Traceback' not in r.stderr


def test_metering_service_correct_and_wrong(tmp_path):
    "A third role: a metering service proposed for appointment (BP002), accepting by contract or everything."
    with verifies('ASM-SANDBOX', 'BP002'):
        good = run_sandbox(tmp_path / 'good', 'MSS', '3199000001', 'PRTM', MeteringService(), ['ms-appointment'])
        assert good.passed, good.failures().to_string()
        assert set(good.checks.kind) >= {'timing', 'schema', 'sequence', 'codes', 'outcome', 'delivery'}
        bad = run_sandbox(tmp_path / 'bad', 'MSS', '3199000001', 'PRTM', MeteringService({'accept-all'}),
                          ['ms-appointment'])
        f = bad.failures()
        assert set(f.kind) == {'codes', 'outcome'} and (f.code == 'SP000').any(), f.to_string()


def test_advanced_data_service_appointment(tmp_path):
    "A fourth role: an advanced data service proposed on MPANs of the advanced segment (BP003)."
    with verifies('ASM-SANDBOX', 'BP003'):
        rep = run_sandbox(tmp_path, 'ADS', '1599000001', 'PRTX', DataService(), ['ads-appointment'])
        assert rep.passed, rep.failures().to_string()


class Distributor:
    "A distributor's system: takes what the DIP sends (the harness verifies each post's signature), sends nothing."

    def __init__(self):
        self.h = None

    def react(self, channel, body):
        return []


def test_distributor_correct_and_wrong(tmp_path):
    """A fifth role: the LDSO, playing distributor 20, takes its area's publications, refuses a forged post, takes a
    requeue."""
    with verifies('ASM-SANDBOX', 'ASM-SANDBOX-LDSO', 'ASM-SANDBOX-NEGATIVE', 'BP001', 'IF-021', 'DIP-TC005'):
        good = run_sandbox(tmp_path / 'good', 'LDSO', '2500000020', 'SOUT', Distributor(),
                           ['ldso-cos', 'ldso-consumption'])
        assert good.passed, good.failures().to_string()
        c = good.checks
        assert {'sequence', 'delivery', 'security'} <= set(c.kind) and len(c) >= 15, c.to_string()
        assert {'IF-001 requeued for ' + good.briefs['ldso-cos']['mpan'], 'IF-021 requeued'} <= set(c.step)
        # a webhook that takes a post without checking its signature
        bad = run_sandbox(tmp_path / 'bad', 'LDSO', '2500000020', 'SOUT', Distributor(),
                          ['ldso-cos', 'ldso-consumption'],
                          after_start=lambda h: setattr(h.receiver, 'verifier', None))
        f = bad.failures()
        assert set(f.kind) == {'security'} and set(f.code) == {'REF0105'} and len(f) == 2, f.to_string()
        assert all(a.startswith('HTTP 2') for a in f.actual), f.to_string()


def test_data_service_deenergised(tmp_path):
    "IF-014 both ways: a warning to take (actuals on a de-energised MPAN), a refusal to avoid (a non-zero estimate)."
    with verifies('ASM-SANDBOX', 'IF-014', 'ECS1008', 'BP005'):
        good = run_sandbox(tmp_path / 'good', 'SDS', '1499000001', 'PRTD', DataService(), ['ds-deenergised'])
        assert good.passed, good.failures().to_string()
        c = good.checks
        assert ((c.kind == 'codes') & c.step.str.startswith('IF-014')).sum() == 1, c.to_string()
        assert (c.step.str.startswith('acknowledge IF-014 ConsumptionOnDeEnergisedMPAN')).any(), c.to_string()
        bad = run_sandbox(tmp_path / 'bad', 'SDS', '1499000001', 'PRTD', DataService({'estimate-deenergised'}),
                          ['ds-deenergised'])
        f = bad.failures()
        assert set(zip(f.kind, f.code)) == {('content', 'ECS1008'), ('outcome', 'ECS1008')}, f.to_string()


def test_data_service_amendment(tmp_path):
    "BP016: a supplier's amendment of a day submitted is accepted and restated; one of days never held is refused."
    with verifies('ASM-SANDBOX', 'BP016', 'IF-027', 'IF-028', 'ECS1016'):
        good = run_sandbox(tmp_path / 'good', 'SDS', '1499000001', 'PRTD', DataService(), ['ds-amendment'])
        assert good.passed, good.failures().to_string()
        assert {'IF-028 for SANDBOX-AMEND-1', 'IF-021 restating the day', 'IF-028 for SANDBOX-AMEND-2'} <= set(
            good.checks.step)
        bad = run_sandbox(tmp_path / 'bad', 'SDS', '1499000001', 'PRTD', DataService({'accept-amendments', 'no-arc'}),
                          ['ds-amendment'])
        f = bad.failures()
        assert {('IF-028 for SANDBOX-AMEND-2', 'DSCA001'), ('IF-021 restating the day', 'ECS1016')} <= set(
            zip(f.step, f.code)), f.to_string()


def test_replayable_runs_mds_references(tmp_path):
    """The MDS's messages repeat too: its IF-014 to a data service draws its sender reference from the run's seed
    (the stream `Market.attach` gives each central service), so a data-service run replays byte for byte."""
    with verifies('ASM-SANDBOX'):
        runs = [run_sandbox(tmp_path / n, 'SDS', '1499000001', 'PRTD', DataService(), order,
                            today=dt.date(2026, 10, 18), seed=7)
                for n, order in (('a', ['ds-deenergised', 'ds-day']), ('b', ['ds-day', 'ds-deenergised']))]
        assert all(r.passed for r in runs), [r.failures().to_string() for r in runs]
        got_a, got_b = map(_received, runs)
        assert got_a == got_b, (got_a, got_b)
        seen = [json.loads(m)['payload'] for ms in got_a.values() for m in ms]
        assert any(p['CommonBlock']['S1']['senderRoleID'] == 'MDS' for p in seen)   # the MDS's IF-014 among them
