"""The DIP over real HTTP on loopback: routing learnt from Registration, webhooks, retries, exhaustion, security."""

import datetime as dt, json, time

import httpx
import pytest

from mhhs_ref.design import verifies
from mhhs_ref.dip.hub import spec_errors
from mhhs_ref.dip.http import answer_code, sign_request


def code(r):
    """(HTTP status, the code of the answer's first entry), the answer checked against the specification's
    StandardResponse."""
    assert spec_errors('StandardResponse', r.json()) == [], r.text[:500]
    return r.status_code, answer_code(r)


def supplier_for(market, sup_client, receiver, channel='IF-021'):
    assert sup_client.configure(channel, receiver.url + '/hook').status_code == 201
    regs = market.client(market.REGS, 'REGS')
    r = regs.send(
        'IF-001', [market.if001(market.SUP, '2025-01-01T00:00:00+00:00', 'S-IF-001-1000000001-REGS-20241220-1')]
    )
    assert r.status_code == 201, r.text


@verifies('DIP-P002', 'DIP-P008', 'IF-001', 'IF-021')
def test_routing_learnt_from_registration_and_webhook_delivery(market):
    rec = market.receiver()
    sup = market.client(market.SUP, 'SUP')
    supplier_for(market, sup, rec)
    sds = market.client(market.SDS, 'SDS')
    batch = [market.if021(f'2025-01-{d:02d}', f'S-IF-021-1400000001-SDS-20250110-{d}') for d in range(2, 12)]
    r = sds.send('IF-021', batch)
    assert r.status_code == 201 and all(m['message'] == 'MSG0000 - Success' for m in r.json()['messageArray'])
    assert rec.wait_for(10)
    assert rec.rejected_signatures == 0
    assert {m['payload']['CommonBlock']['A0']['secondaryRecipients'][0] for m in rec.received} >= {market.SUP}
    # replay by the supplier returns its ten publications, paged
    got = sup.replay('IF-021', pageSize=4)
    assert len(got) == 10 and all(m['payload']['CommonBlock']['D0']['replayIndicator'] for m in got)
    rec.stop()


def wait_journal(client, recipient, ref, pred, timeout=30):
    "Poll the sender's delivery-status journal until an Outbound entry for `recipient` satisfies `pred`."
    end = time.time() + timeout
    while time.time() < end:
        if any(
            j['stage'] == 'Outbound' and j['recipient'] == recipient and pred(j)
            for j in client.delivery_status('IF-021', ref)
        ):
            return True
        time.sleep(0.1)
    return False


@verifies('DIP-P005', 'ASM-DIP-RETRY')
def test_receiver_down_slow_or_failing_gets_retries_then_its_messages(tmp_path, store):
    from conftest import Market

    m = Market(tmp_path, limits={'webhook_timeout_s': 0.5}, retry={'first_delay': 0.2, 'max_attempts': 12}, store=store)
    m.server.start()
    try:
        rec = m.receiver()
        sup = m.client(m.SUP, 'SUP')
        supplier_for(m, sup, rec)
        sds = m.client(m.SDS, 'SDS')
        rec.mode = 'fail'  # 503s
        assert sds.send('IF-021', [m.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-a')]).status_code == 201
        time.sleep(1.0)
        assert not rec.received and len(rec.calls) >= 2
        rec.mode, rec.delay = 'ok', 1.0  # slower than the webhook timeout
        assert wait_journal(
            sds, m.SUP, 'S-IF-021-1400000001-SDS-20250110-a', lambda j: 'Timeout' in (j.get('detail') or '')
        )
        rec.delay = 0.0
        assert wait_journal(sds, m.SUP, 'S-IF-021-1400000001-SDS-20250110-a', lambda j: j['status'] == 'Delivered')
        assert rec.wait_for(1, timeout=20)
        port = rec.port
        rec.stop()
        time.sleep(0.5)  # down: connection refused
        assert sds.send('IF-021', [m.if021('2025-01-03', 'S-IF-021-1400000001-SDS-20250110-b')]).status_code == 201
        time.sleep(1.0)
        from mhhs_ref.dip.http import WebhookReceiver

        rec2 = WebhookReceiver(m.dip.cert_pem, dip_id='0000000000', port=port)
        rec2.start()
        assert rec2.wait_for(1, timeout=30)
        assert wait_journal(sds, m.SUP, 'S-IF-021-1400000001-SDS-20250110-b', lambda j: j['status'] == 'Delivered')
        journal = [
            j for j in sds.delivery_status('IF-021', 'S-IF-021-1400000001-SDS-20250110-b') if j['recipient'] == m.SUP
        ]
        assert 'Retrying' in [j['status'] for j in journal] and journal[-1]['status'] == 'Delivered', journal
        rec2.stop()
    finally:
        m.server.stop()


@verifies('DIP-P005')
def test_retries_exhausted_reported_to_sender(tmp_path, store):
    from conftest import Market

    m = Market(tmp_path, retry={'first_delay': 0.1, 'max_attempts': 3}, store=store)
    m.server.start()
    try:
        rec = m.receiver()
        status = m.receiver()
        sup = m.client(m.SUP, 'SUP')
        supplier_for(m, sup, rec)
        sds = m.client(m.SDS, 'SDS')
        assert sds.configure_status(status.url + '/status').status_code == 201
        rec.mode = 'fail'
        assert sds.send('IF-021', [m.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-x')]).status_code == 201
        assert status.wait_for(1, timeout=20)
        assert status.received[0]['message'].startswith('REF0106 - Delivery retries exhausted')
        rec.stop()
        status.stop()
    finally:
        m.server.stop()


@verifies('DIP-P008')
def test_security(market):
    sds = market.client(market.SDS, 'SDS')
    sup = market.client(market.SUP, 'SUP')
    msg = market.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-s')
    url = market.server.url + '/dip-channel/IF-021'
    body = json.dumps([msg]).encode()
    base = {'content-type': 'application/json', 'X-API-Key': f'key-{market.SDS}'}
    assert code(httpx.post(url, content=body, headers=base)) == (401, 'REF0105')  # unsigned
    forged = sign_request(market.ids[market.SUP], 'POST', url, body)  # someone else's key
    assert code(httpx.post(url, content=body, headers={**base, **forged})) == (401, 'REF0105')
    old = sign_request(
        market.ids[market.SDS], 'POST', url, body, when=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    )
    assert code(httpx.post(url, content=body, headers={**base, **old})) == (401, 'REF0105')  # expired
    good = sign_request(market.ids[market.SDS], 'POST', url, body)
    assert httpx.post(url, content=body, headers={**base, **good}).status_code == 201
    assert code(httpx.post(url, content=body, headers={**base, **good})) == (401, 'REF0105')  # replayed signature
    tampered = {**good, 'X-DIP-Signature': good['X-DIP-Signature'][:-4] + 'AAA='}
    assert code(httpx.post(url, content=body, headers={**base, **tampered})) == (401, 'REF0105')
    assert code(sup.send('IF-021', [msg])) == (400, 'MSG1010')  # SUP does not send IF-021
    other = json.loads(json.dumps(msg))
    other['payload']['CommonBlock']['S1']['senderDIPID'] = market.MDS
    r = sds.send('IF-021', [other])
    assert code(r) == (400, 'MSG1009')  # S1 names another DIP id
    assert code(sup.request('POST', f'/dip-channel/IF-021/replay/{market.SDS}', {})) == (
        403,
        'REF0102',
    )  # someone else's publications
    assert code(
        sup.request('POST', f'/dip-channel/IF-021/pubconfig/{market.SDS}', {'callbackURL': 'http://127.0.0.1:9/x'})
    ) == (403, 'REF0102')


@verifies('ASM-DIP-SIGNED-URL')
def test_path_and_query_are_signed(market):
    """A request whose query or path is changed after signing fails; the same request as signed passes; case does not
    matter."""
    base = {'content-type': 'application/json', 'X-API-Key': f'key-{market.SDS}'}
    path = f'/dip-channel/IF-021/replay/{market.SDS}'
    body = json.dumps(
        {'datetimeFrom': None, 'datetimeTo': None, 'eventCode': None, 'MPAN': None, 'version': None}
    ).encode()
    signed = sign_request(market.ids[market.SDS], 'POST', market.server.url + path + '?trace=1', body)
    h = {**base, **signed}
    assert code(httpx.post(market.server.url + path + '?trace=2', content=body, headers=h)) == (
        401,
        'REF0105',
    )  # query changed
    assert code(httpx.post(market.server.url + path, content=body, headers=h)) == (401, 'REF0105')  # query dropped
    other = f'/dip-channel/IF-022/replay/{market.SDS}?trace=1'
    assert code(httpx.post(market.server.url + other, content=body, headers=h)) == (401, 'REF0105')  # path changed
    assert httpx.post(market.server.url + path + '?trace=1', content=body, headers=h).status_code == 200  # as signed
    upper = sign_request(
        market.ids[market.SDS], 'POST', market.server.url + path.upper().replace('/DIP-CHANNEL', '/dip-channel'), body
    )
    assert (
        httpx.post(market.server.url + path, content=body, headers={**base, **upper}).status_code == 200
    )  # URLs are case-insensitive


@verifies('ASM-DIP-IDEMPOTENT', 'DIP-TC003')
def test_a_reference_reused_concurrently_makes_one_transaction(market):
    """The same message sent eight times at once is one transaction; the reference on another message is MSG1006,
    nothing stored."""
    from concurrent.futures import ThreadPoolExecutor

    sds = [market.client(market.SDS, 'SDS') for _ in range(8)]
    rec = market.receiver(market.SUP)
    sup = market.client(market.SUP, 'SUP')
    supplier_for(market, sup, rec)
    msg = market.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-c')
    url, body, t0 = (
        market.server.url + '/dip-channel/IF-021',
        json.dumps([msg]).encode(),
        dt.datetime.now(dt.timezone.utc),
    )

    def send(k):  # dated a millisecond apart: two byte-identical signed requests would be refused as a replay
        h = {
            'content-type': 'application/json',
            'X-API-Key': f'key-{market.SDS}',
            **sign_request(market.ids[market.SDS], 'POST', url, body, when=t0 + dt.timedelta(milliseconds=k)),
        }
        return sds[k].http.post(url, content=body, headers=h)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert {code(a) for a in answers} == {(201, 'MSG0000')}, [a.text[:400] for a in answers if a.status_code != 201]
    assert len({a.json()['messageArray'][0]['transactionID'] for a in answers}) == 1
    other = market.if021('2025-01-03', 'S-IF-021-1400000001-SDS-20250110-c')
    assert code(sds[0].send('IF-021', [other])) == (400, 'MSG1006')
    time.sleep(1.0)
    assert (
        len([m for m in rec.received if m['payload']['CommonBlock']['S1']['senderUniqueReference'].endswith('-c')]) == 1
    )
    rec.stop()


@verifies('DIP-P004', 'DIP-P005', 'ASM-DIP-RCP-FORWARD')
def test_recipient_rcp_codes_are_kept_and_passed_to_the_sender(market):
    """A recipient that takes a publication answers RCP0000, one that refuses it RCP1001: the DIP keeps each code and
    tells the sender of a refusal."""
    rec = market.receiver(market.SUP)
    status = market.receiver(market.SDS)
    sup = market.client(market.SUP, 'SUP')
    supplier_for(market, sup, rec)
    sds = market.client(market.SDS, 'SDS')
    assert sds.configure_status(status.url + '/status').status_code == 201
    assert code(sds.send('IF-021', [market.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-ok')])) == (
        201,
        'MSG0000',
    )
    assert wait_journal(sds, market.SUP, 'S-IF-021-1400000001-SDS-20250110-ok', lambda j: j['code'] == 'RCP0000')
    rec.mode = 'refuse'
    assert code(sds.send('IF-021', [market.if021('2025-01-03', 'S-IF-021-1400000001-SDS-20250110-no')])) == (
        201,
        'MSG0000',
    )
    assert wait_journal(
        sds,
        market.SUP,
        'S-IF-021-1400000001-SDS-20250110-no',
        lambda j: (j['status'], j['http_status'], j['code']) == ('RejectedByRecipient', 400, 'RCP1001'),
    )
    assert status.wait_for(1, timeout=20)
    told = status.received[-1]
    assert (
        told['message'].startswith('RCP1001 - Schema Failure')
        and told['senderID'] == market.SUP
        and told['recipientID'] == market.SDS
    )
    assert spec_errors('StandardResponseBodyType', told) == []
    answers = httpx.get(market.server.url + '/metrics', headers={'X-API-Key': f'key-{market.SDS}'}).json()[
        'recipient_answers'
    ]
    assert {(a['recipient'], a['code'], a['state']) for a in answers if a['channel'] == 'IF-021'} >= {
        (market.SUP, 'RCP0000', 'delivered'),
        (market.SUP, 'RCP1001', 'rejected'),
    }
    rec.stop()
    status.stop()
