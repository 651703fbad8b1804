"""Fixtures for DIP tests over real HTTP: a hub server process on loopback, signed participants, webhook receivers."""

import datetime as dt, os, signal, socket, subprocess, sys, time
from pathlib import Path

import httpx
import pytest

from mhhs_ref.dip.http import DipClient, WebhookReceiver, make_identity, write_config
from mhhs_ref.interfaces import build_message
from mhhs_ref.isd import reference_isd

EXE = Path(sys.executable).parent / 'mhhs-ref'
MPAN, SINCE = '2000056535971', '2020-01-01T00:00:00+00:00'


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


class DipServer:
    "The `mhhs-ref dip serve` process: start, kill -9, start again on the same database and port."

    def __init__(self, folder: Path, config: Path):
        self.folder, self.config, self.port, self.proc = folder, config, free_port(), None
        self.db = folder / 'dip.db'
        self.preexec = None  # run in the server process before it starts (a resource limit, say)

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}'

    def start(self):
        self.proc = subprocess.Popen(
            [str(EXE), 'dip', 'serve', '--port', str(self.port), '--db', str(self.db), '--config', str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / 'server.log', 'ab'),
            preexec_fn=self.preexec,
        )
        end = time.time() + 30
        while time.time() < end:
            try:
                if httpx.get(self.url + '/healthz', timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError((self.folder / 'server.log').read_text()[-2000:])
            time.sleep(0.1)
        raise RuntimeError('DIP server did not start')

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Market:
    "Reference participants with identities; a server; clients by role."

    def __init__(self, tmp: Path, retry=None, limits=None, store=None):
        self.isd = reference_isd()
        p = self.isd.participants
        self.SUP = p.query("role=='SUP'").dip_id.iloc[0]
        self.SUP2 = p.query("role=='SUP'").dip_id.iloc[1]
        self.SDS = p.query("role=='SDS'").dip_id.iloc[0]
        self.REGS = p.query("role=='REGS'").dip_id.iloc[0]
        self.MDS = p.query("role=='MDS'").dip_id.iloc[0]
        self.ids = {d: make_identity(d) for d in (self.SUP, self.SUP2, self.SDS, self.REGS, self.MDS)}
        self.dip = make_identity('0000000000')
        cfg = write_config(
            tmp / 'cfg',
            p,
            self.ids,
            self.dip,
            limits=limits,
            retry=retry or {'first_delay': 0.2, 'max_attempts': 6},
            store=store,
        )
        self.server = DipServer(tmp, cfg)

    def client(self, dip_id, role):
        return DipClient(self.server.url, self.ids[dip_id], role, f'key-{dip_id}')

    def receiver(self, participant_id=None, validate=False):
        r = WebhookReceiver(self.dip.cert_pem, dip_id='0000000000', participant_id=participant_id, validate=validate)
        r.start()
        return r

    def if021(self, day, ref, v='0.215'):
        return build_message(
            'IF-021',
            'ActivePower',
            self.SDS,
            'SDS',
            mpan_core=MPAN,
            reference=ref,
            blocks={
                'B044': {'issuingDataServiceDIPID': self.SDS},
                'B067': {
                    'connectionTypeIndicator': 'W',
                    'connectionTypeEffectiveFromDate': '2020-01-01T00:00:00+00:00',
                },
                'B900': {
                    'MQID': {'measurementQuantityID': 'AI'},
                    'settlementDayConsumptionPeriods': [
                        {
                            'settlementDay': {'settlementDayDate': f'{day}T00:00:00+00:00', 'periodDuration': 30},
                            'consumptionPeriods': [
                                {'sp': f'{day}T00:30:00+00:00', 'v': v, 'q': 'A', 'e': None, 'arc': None}
                            ],
                        }
                    ],
                },
            },
        )

    def if001(self, supplier, start, ref):
        """Registration's IF-001 ChangeOfSupplier: `supplier` takes the MPAN over on `start` (every block the event
        requires, plain values)."""
        out = self.SUP2 if supplier != self.SUP2 else self.SUP
        return build_message(
            'IF-001',
            'ChangeOfSupplier',
            self.REGS,
            'REGS',
            mpan_core=MPAN,
            reference=ref,
            blocks={
                'B013': {'CSSRegistrationID': f'css-{ref[-8:]}'},
                'B002': {
                    'incomingSupplierDIPID': supplier,
                    'incomingSupplierMPID': self.isd.participant(supplier).mpid,
                    'supplierEffectiveFromDate': start,
                },
                'B003': {
                    'outgoingSupplierDIPID': out,
                    'outgoingSupplierMPID': self.isd.participant(out).mpid,
                    'supplierEffectiveToDate': (dt.datetime.fromisoformat(start) - dt.timedelta(days=1)).isoformat(),
                },
                'B004': {'domesticPremiseIndicator': True, 'domesticPremiseIndicatorEffectiveFromDate': SINCE},
                'B022': {'meteringPointPostcode': 'AB1 2CD', **{f'addressLine{k}': None for k in range(1, 10)}},
                'B023': {
                    'connectionTypeIndicator': 'W',
                    'connectionTypeEffectiveFromDate': SINCE,
                    'energyDirection': 'I',
                    'meteredIndicator': True,
                },
                'B024': {'DUOSTariffID': '001', 'DUOSTariffIDEffectiveFromDate': SINCE},
                'B025': {'energisationStatus': 'E', 'energisationStatusEffectiveFromDate': SINCE},
                'B026': {'marketSegmentIndicator': 'S', 'marketSegmentIndicatorEffectiveFromDate': SINCE},
            },
        )


@pytest.fixture(scope='session')
def nats_url(tmp_path_factory):
    "A JetStream nats-server for the session (sync_interval: always), started by the tests themselves."
    from mhhs_ref.dip.nats import NatsServer

    s = NatsServer(tmp_path_factory.mktemp('nats')).start()
    yield s.url
    s.stop()


@pytest.fixture(params=['sqlite', 'nats'])
def store(request):
    "Each DIP test runs against both message stores: the embedded SQLite default and NATS JetStream."
    if request.param == 'sqlite':
        return {'kind': 'sqlite'}
    # a fresh stream per test keeps tests independent
    return {
        'kind': 'nats',
        'url': request.getfixturevalue('nats_url'),
        'stream': f'DIP{abs(hash(request.node.nodeid)) % 10**8}',
    }


@pytest.fixture
def market(tmp_path, store):
    m = Market(tmp_path, store=store)
    m.server.start()
    yield m
    m.server.stop()
