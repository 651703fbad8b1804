"""Property-based fuzzing of the DIP API over HTTP: every bad request is a 4xx StandardResponse naming its code, never a
5xx.

MHHS_FUZZ_EXAMPLES sets the number of requests (default 10,000).
"""

import copy, json, os
from urllib.parse import quote
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mhhs_ref.core import REJECTION_CODES
from mhhs_ref.design import verifies
from mhhs_ref.dip.hub import leading_code, spec_errors
from mhhs_ref.interfaces import channels

N = int(os.environ.get('MHHS_FUZZ_EXAMPLES', '10000'))
COUNTS = {}
INTERNAL = ('AttributeError', 'TypeError', 'ValueError', 'KeyError', 'IndexError', 'ProgrammingError', 'Traceback')


@pytest.fixture(scope='module')
def fuzz_market(tmp_path_factory):
    from conftest import Market

    m = Market(tmp_path_factory.mktemp('fuzz'), limits={'rate_per_s': 1e6, 'burst': 10**6, 'max_body_bytes': 64 * 1024})
    m.server.start()
    m.valid = m.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-v')
    m.sds = m.client(m.SDS, 'SDS')
    yield m
    m.server.stop()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=12,
)


def paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from paths(v, prefix + (i,))


@st.composite
def mutated(draw, valid):
    msg = copy.deepcopy(valid)
    ps = [p for p in paths(msg) if p]
    for _ in range(draw(st.integers(1, 3))):
        p = draw(st.sampled_from(ps))
        parent = msg
        try:
            for k in p[:-1]:
                parent = parent[k]
            if draw(st.booleans()):
                del parent[p[-1]]
            else:
                parent[p[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            pass
    return msg


def bodies(valid):
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.lists(mutated(valid), min_size=0, max_size=3).map(lambda v: json.dumps(v).encode()),
        mutated(valid).map(lambda v: json.dumps(v).encode()),
        st.just(b'[' + b'1,' * 40000 + b'1]'),
    )


CHANNELS = sorted(channels())


@verifies('DIP-P003', 'DIP-P005')
def test_fuzz_the_send_endpoint(fuzz_market):
    m = fuzz_market

    @settings(
        max_examples=N,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(channel=st.one_of(st.sampled_from(CHANNELS), st.text(max_size=12)), body=bodies(m.valid))
    def one(channel, body):
        r = m.sds.request('POST', '/dip-channel/' + (quote(channel, safe='') or 'x'), body)
        COUNTS[r.status_code] = COUNTS.get(r.status_code, 0) + 1
        assert r.status_code == 201 or 400 <= r.status_code < 500, (
            r.status_code,
            r.text[:300],
        )  # never 207 (all or nothing), never 5xx
        data = r.json()
        assert spec_errors('StandardResponse', data) == [], str(data)[:300]  # every field present and within its limits
        assert all(leading_code(x['message']) in REJECTION_CODES for x in data['messageArray']), str(data)[:300]
        assert not any(x in r.text for x in INTERNAL), r.text[:300]  # no internal error dressed as the sender's fault

    one()
    print(f"fuzz: {sum(COUNTS.values())} requests, statuses {dict(sorted(COUNTS.items()))}")
    assert sum(COUNTS.values()) >= N
    assert httpx.get(m.server.url + '/healthz').status_code == 200  # still serving
    assert m.sds.send('IF-021', [m.if021('2025-01-03', 'S-IF-021-1400000001-SDS-20250110-after')]).status_code == 201


# -- every other operation, signed: what the DIP cannot use is a 4xx naming its code, never an internal error dressed as
# one

N_OP = int(os.environ.get('MHHS_FUZZ_OP_EXAMPLES', '300'))
OP_COUNTS = {}


def operations(m):
    "(name, method, path, body strategy, header strategy) for every signed operation but sendMessage."
    me = m.SDS
    request = st.fixed_dictionaries(
        {k: st.one_of(st.none(), json_values) for k in ('datetimeFrom', 'datetimeTo', 'eventCode', 'MPAN', 'version')},
        optional={
            'transactionIDs': st.one_of(json_values, st.lists(st.text(max_size=70), max_size=5)),
            'pageSize': st.one_of(st.integers(-5, 20), json_values),
        },
    )
    webhook = st.fixed_dictionaries(
        {'callbackURL': st.one_of(st.text(max_size=40), st.just('http://127.0.0.1:9/x'), json_values)},
        optional={'maxMessageCount': json_values, 'maxPayloadSize': json_values},
    )
    status = st.lists(
        st.fixed_dictionaries(
            {
                'transactionID': st.one_of(st.text(max_size=70), json_values),
                'message': st.one_of(st.text(max_size=50), json_values),
            },
            optional={'help': json_values},
        ),
        max_size=3,
    )
    body = lambda s: st.one_of(
        s.map(lambda v: json.dumps(v).encode()),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=100),
    )
    token = st.one_of(st.none(), st.from_regex(r'[!-~]{1,30}', fullmatch=True), st.just('1e308~x'), st.just('nan~T'))
    return [
        ('pubconfig', 'POST', f'/dip-channel/IF-021/pubconfig/{me}', body(webhook), st.none()),
        ('pubconfig-delete', 'DELETE', f'/dip-channel/IF-021/pubconfig/{me}', st.just(b''), st.none()),
        ('replay', 'POST', f'/dip-channel/IF-021/replay/{me}', body(request), token),
        ('requeue', 'POST', f'/dip-channel/IF-021/requeue/{me}', body(request), st.none()),
        ('statusmessage', 'POST', '/statusmessage', body(status), st.none()),
        ('status-config', 'POST', f'/statusmessage/config/{me}', body(webhook), st.none()),
        ('status-config-delete', 'DELETE', f'/statusmessage/config/{me}', st.just(b''), st.none()),
        ('status-replay', 'POST', f'/statusmessage/replay/{me}', body(st.just({})), st.none()),
        (
            'status-requeue',
            'POST',
            f'/statusmessage/requeue/{me}',
            body(st.fixed_dictionaries({'datetimeFrom': json_values})),
            st.none(),
        ),
        ('validate', 'POST', '/validate/IF-021/ActivePower', body(mutated(m.valid)), st.none()),
        ('requeueStatus', 'GET', f'/dip-channel/IF-021/requeueStatus/{me}', st.just(b''), st.none()),
        (
            'deliveryStatus',
            'GET',
            f'/dip-channel/IF-021/deliveryStatus/{me}/S-IF-021-1400000001-SDS-20250110-v',
            st.just(b''),
            st.none(),
        ),
    ]


@verifies('DIP-P005', 'DIP-P008')
def test_fuzz_every_other_operation(fuzz_market):
    m = fuzz_market
    for name, method, path, bodies_, tokens in operations(m):
        counts = OP_COUNTS.setdefault(name, {})

        @settings(
            max_examples=N_OP,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
        )
        @given(body=bodies_, token=tokens)
        def one(body, token):
            r = m.sds.request(
                method, path, body, headers={'X-Continuation-Token': token} if token else None, retries=0
            )  # one connection, kept alive
            counts[r.status_code] = counts.get(r.status_code, 0) + 1
            assert r.status_code < 500, (name, r.status_code, r.text[:300])  # no internal error at all
            if r.status_code >= 400 and name != 'validate':
                assert not any(x in r.text for x in INTERNAL), (
                    name,
                    r.text[:300],
                )  # nor one dressed as the caller's fault
                assert all(leading_code(x['message']) in REJECTION_CODES for x in r.json()['messageArray'])

        one()
    print('fuzz per operation:', {k: sum(v.values()) for k, v in OP_COUNTS.items()}, OP_COUNTS)
    assert sum(sum(v.values()) for v in OP_COUNTS.values()) >= 8 * N_OP
    assert httpx.get(m.server.url + '/healthz').status_code == 200
