"""A client that knows the DIP only from the OpenAPI document `mhhs-ref dip serve` serves.

It finds each operation by its operationId, and takes from the document its method and path, its path parameters,
the headers it requires, the security scheme, the schema its body must meet and the schema of each answer. The
only thing it knows beyond the document is how to fill the four X-DIP-* headers the document names (a signature).
Against a real server on loopback it configures a webhook, publishes and replays; the document itself is compared
with the operations derived from Elexon's DIP API specification.
"""

import json, re, time
from pathlib import Path

import httpx
import jsonschema
import pytest

from mhhs_ref.design import verifies
from mhhs_ref.dip.hub import recipient_answer
from mhhs_ref.dip.http import sign_request
from mhhs_ref.interfaces import spec_catalogue


class OpenApiClient:
    "Calls a DIP by operationId, with everything about the call read from its OpenAPI document."

    def __init__(self, base_url: str, document: dict, api_key: str, identity):
        self.base, self.doc, self.api_key, self.identity = base_url, document, api_key, identity
        self.ops = {(m, p): o for p, item in document['paths'].items() for m, o in item.items()}
        self.by_id = {o['operationId']: (m, p) for (m, p), o in self.ops.items() if o.get('operationId')}

    def check(self, schema: dict, value):
        "Validate `value` against a schema of the document (its references resolve inside the document)."
        jsonschema.Draft202012Validator({**schema, 'components': self.doc['components']}).validate(value)

    def call(self, operation_id: str, body=None, check_request: bool = True, **path_params) -> httpx.Response:
        return self.call_at(*self.by_id[operation_id], body, check_request, **path_params)

    def call_at(self, method: str, path: str, body=None, check_request: bool = True, **path_params) -> httpx.Response:
        op = self.ops[(method, path)]
        wanted = [p['name'] for p in op.get('parameters', []) if p['in'] == 'path']
        assert sorted(wanted) == sorted(path_params), (path, wanted)
        url = self.base + re.sub(r'\{([^}]+)\}', lambda m: path_params[m.group(1)], path)
        content = b'' if body is None else json.dumps(body).encode()
        if 'requestBody' in op and check_request:
            self.check(op['requestBody']['content']['application/json']['schema'], body)
        headers = {'content-type': 'application/json'}
        for requirement in op.get('security', self.doc.get('security', [])):
            for name in requirement:
                scheme = self.doc['components']['securitySchemes'][name]
                assert (scheme['type'], scheme['in']) == ('apiKey', 'header'), scheme
                headers[scheme['name']] = self.api_key
        signature = sign_request(self.identity, method.upper(), url, content)
        for p in op.get('parameters', []):
            if p['in'] == 'header' and p['required']:
                headers[p['name']] = signature[p['name']]
        r = httpx.request(method.upper(), url, content=content, headers=headers, timeout=30)
        answer = op['responses'].get(str(r.status_code))
        assert answer is not None, (
            f"{method} {path} answered {r.status_code}, which the document does not list: {r.text[:300]}"
        )
        if 'content' in answer:
            self.check(answer['content']['application/json']['schema'], r.json())
        return r


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    from conftest import Market

    m = Market(tmp_path_factory.mktemp('openapi'), store={'kind': 'sqlite'})
    m.server.start()
    m.doc = httpx.get(m.server.url + '/openapi.json').json()
    yield m
    m.server.stop()


def client(m, dip_id) -> OpenApiClient:
    return OpenApiClient(m.server.url, m.doc, f'key-{dip_id}', m.ids[dip_id])


@verifies('DIP-P008', 'ASM-DIP-API-EXTENSIONS')
def test_the_served_document_carries_every_official_operation(served):
    doc, official = served.doc, spec_catalogue()['api']
    for op in official['operations']:
        got = doc['paths'][op['path']][op['method'].lower()]
        assert got.get('operationId') == op['operationId']
        ours = [
            (p['name'], p['in']) for p in got['parameters'] if not p.get('x-mhhs-ref-extension')
        ]  # replay's paging header is ours
        assert ours == list(dict.fromkeys((p['name'], p['in']) for p in op['parameters']))
        assert not got.get('x-mhhs-ref-extension') and 'mhhs_ref extension' not in got['tags']
        body = (got.get('requestBody') or {}).get('content', {}).get('application/json', {}).get('schema')
        assert json.dumps(body).replace('#/components/schemas/', '#/definitions/') == json.dumps(
            (op['requestBody'] or {}).get('schema')
        )
    assert (
        doc['security'] == official['security'] and doc['components']['securitySchemes'] == official['securitySchemes']
    )
    send = doc['paths']['/dip-channel/{id}']['post']
    assert [p['name'] for p in send['parameters'] if p['in'] == 'header'] == [
        'X-DIP-Signature',
        'X-DIP-Signature-Date',
        'X-DIP-Content-Hash',
        'X-DIP-Signature-Certificate',
    ]
    ids = {o.get('operationId') for item in doc['paths'].values() for o in item.values()}
    assert {
        'sendMessage',
        'configurePublication',
        'replayPublication',
        'requeuePublication',
        'submitStatusMessage',
        'postStatusMsgWebhook',
    } <= ids
    extensions = [
        (p, m, o) for p, item in doc['paths'].items() for m, o in item.items() if o.get('x-mhhs-ref-extension')
    ]
    assert {p for p, _, _ in extensions} >= {
        '/metrics',
        '/healthz',
        '/dip-channel/{id}/deliveryStatus/{recipient-id}/{message-id}',
    }
    assert all(o['tags'] == ['mhhs_ref extension'] for _, _, o in extensions)


@verifies('DIP-P008')
def test_every_official_operation_is_served(served):
    """Each operation of the specification, called without credentials, is refused for that (401) — not unknown (404,
    405)."""
    values = {'id': 'IF-021', 'recipient-id': served.SUP}
    for op in spec_catalogue()['api']['operations']:
        url = served.server.url + re.sub(r'\{([^}]+)\}', lambda m: values[m.group(1)], op['path'])
        r = httpx.request(op['method'], url, content=b'[]', timeout=10)
        assert r.status_code == 401 and r.json()['messageArray'][0]['message'].startswith('REF0105'), (
            op['method'],
            op['path'],
            r.status_code,
        )


@verifies('DIP-P008', 'DIP-P002', 'DIP-TC005', 'DIP-P005')
def test_a_client_driven_by_the_document_configures_publishes_and_replays(served):
    m = served
    sup, regs, sds = client(m, m.SUP), client(m, m.REGS), client(m, m.SDS)
    rec = m.receiver(m.SUP)
    try:
        r = sup.call(
            'configurePublication',
            {'callbackURL': rec.url + '/hook', 'maxMessageCount': 50},
            id='IF-021',
            **{'recipient-id': m.SUP},
        )
        assert r.status_code == 201
        r = regs.call(
            'sendMessage',
            [m.if001(m.SUP, '2025-01-01T00:00:00+00:00', 'S-IF-001-1000000001-REGS-20241220-o')],
            id='IF-001',
        )
        assert r.status_code == 201 and r.json()['messageArray'][0]['message'] == 'MSG0000 - Success'
        msg = m.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-o')
        r = sds.call('sendMessage', [msg], id='IF-021')
        assert r.status_code == 201
        txn = r.json()['messageArray'][0]['transactionID']
        assert rec.wait_for(1, timeout=20) and rec.received[0]['payload']['CommonBlock']['D0']['transactionID'] == txn
        query = {
            'datetimeFrom': '2020-01-01T00:00:00+00:00',
            'datetimeTo': None,
            'eventCode': '[ActivePower]',
            'MPAN': msg['payload']['CommonBlock']['M0']['MPANCore'],
            'version': None,
        }
        r = sup.call('replayPublication', query, id='IF-021', **{'recipient-id': m.SUP})
        assert r.status_code == 200 and [x['payload']['CommonBlock']['D0']['transactionID'] for x in r.json()] == [txn]
        assert r.json()[0]['payload']['CommonBlock']['D0']['replayIndicator'] is True
        r = sup.call('requeuePublication', {**query, 'transactionIDs': [txn]}, id='IF-021', **{'recipient-id': m.SUP})
        assert r.status_code == 200 and rec.wait_for(2, timeout=20)
        r = sds.call('postStatusMsgWebhook', {'callbackURL': rec.url + '/status'}, **{'recipient-id': m.SDS})
        assert r.status_code == 201
        report = recipient_answer(m.SUP, rec.received[:1], 'RCP1061', 'not supplied by us')[1]['messageArray']
        r = sup.call('submitStatusMessage', report)
        assert r.status_code == 201 and r.json()['messageArray'][0]['transactionID'] == txn
        broken = json.loads(json.dumps(msg))
        del broken['payload']['CustomBlock']['B900']
        r = sds.call(
            'sendMessage', [broken], check_request=False, id='IF-021'
        )  # the document's 400 answer, checked against it
        assert r.status_code == 400 and r.json()['messageArray'][0]['message'].startswith('MSG1001 - Schema Failure')
        validate_id = next(o['operationId'] for (mth, p), o in sds.ops.items() if p == '/validate/IF-021/ActivePower')
        r = sds.call(validate_id, [{'payload': msg['payload']}])
        assert (r.status_code, r.json()) == (201, 'Message OK')
        r = sup.call_at('delete', '/dip-channel/{id}/pubconfig/{recipient-id}', id='IF-021', **{'recipient-id': m.SUP})
        assert r.status_code == 204
    finally:
        rec.stop()
