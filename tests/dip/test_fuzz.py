"""Property-based fuzzing of the DIP API over HTTP: every bad request is a 4xx naming its code, never a 5xx.

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
from mhhs_ref.interfaces import channels

N = int(os.environ.get('MHHS_FUZZ_EXAMPLES', '10000'))
COUNTS = {}

@pytest.fixture(scope='module')
def fuzz_market(tmp_path_factory):
    from conftest import Market
    m = Market(tmp_path_factory.mktemp('fuzz'), limits={'rate_per_s': 1e6, 'burst': 10**6, 'max_body_bytes': 64*1024})
    m.server.start()
    m.valid = m.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-v')
    m.sds = m.client(m.SDS, 'SDS')
    yield m
    m.server.stop()

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=12)

def paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items(): yield from paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj): yield from paths(v, prefix + (i,))

@st.composite
def mutated(draw, valid):
    msg = copy.deepcopy(valid)
    ps = [p for p in paths(msg) if p]
    for _ in range(draw(st.integers(1, 3))):
        p = draw(st.sampled_from(ps))
        parent = msg
        try:
            for k in p[:-1]: parent = parent[k]
            if draw(st.booleans()): del parent[p[-1]]
            else: parent[p[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError): pass
    return msg

def bodies(valid):
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.lists(mutated(valid), min_size=0, max_size=3).map(lambda v: json.dumps(v).encode()),
        mutated(valid).map(lambda v: json.dumps(v).encode()),
        st.just(b'[' + b'1,'*40000 + b'1]'))

CHANNELS = sorted(channels())

@verifies('DIP-P003', 'DIP-P005')
def test_fuzz_the_send_endpoint(fuzz_market):
    m = fuzz_market

    @settings(max_examples=N, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(channel=st.one_of(st.sampled_from(CHANNELS), st.text(max_size=12)), body=bodies(m.valid))
    def one(channel, body):
        r = m.sds.request('POST', '/dip-channel/' + (quote(channel, safe='') or 'x'), body)
        COUNTS[r.status_code] = COUNTS.get(r.status_code, 0) + 1
        assert r.status_code in (201, 207) or 400 <= r.status_code < 500, (r.status_code, r.text[:300])
        data = r.json()
        if r.status_code >= 400:
            assert data.get('code') in REJECTION_CODES or 'messageArray' in data, str(data)[:300]
        if 'messageArray' in data:
            assert all(x['message'][:3] in ('MSG', 'REF') for x in data['messageArray'])

    one()
    print(f"fuzz: {sum(COUNTS.values())} requests, statuses {dict(sorted(COUNTS.items()))}")
    assert sum(COUNTS.values()) >= N
    assert httpx.get(m.server.url + '/healthz').status_code == 200          # still serving
    assert m.sds.send('IF-021', [m.if021('2025-01-03', 'S-IF-021-1400000001-SDS-20250110-after')]).status_code == 201
