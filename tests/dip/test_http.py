"""The DIP over real HTTP on loopback: routing learnt from Registration, webhooks, retries, exhaustion, security."""
import datetime as dt, json, time

import httpx
import pytest

from mhhs_ref.design import verifies
from mhhs_ref.dip.http import sign_request

def code(r): return r.status_code, r.json().get('code')

def supplier_for(market, sup_client, receiver, channel='IF-021'):
    assert sup_client.configure(channel, receiver.url + '/hook').status_code == 201
    regs = market.client(market.REGS, 'REGS')
    r = regs.send('IF-001', [market.if001(market.SUP, '2025-01-01T00:00:00+00:00', 'S-IF-001-1000000001-REGS-20241220-1')])
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
        if any(j['stage'] == 'Outbound' and j['recipient'] == recipient and pred(j) for j in client.delivery_status('IF-021', ref)): return True
        time.sleep(0.1)
    return False

@verifies('DIP-P005', 'ASM-DIP-RETRY')
def test_receiver_down_slow_or_failing_gets_retries_then_its_messages(tmp_path, store):
    from conftest import Market
    m = Market(tmp_path, limits={'webhook_timeout_s': 0.5}, retry={'first_delay': 0.2, 'max_attempts': 12}, store=store)
    m.server.start()
    try:
        rec = m.receiver(); sup = m.client(m.SUP, 'SUP'); supplier_for(m, sup, rec)
        sds = m.client(m.SDS, 'SDS')
        rec.mode = 'fail'                                               # 503s
        assert sds.send('IF-021', [m.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-a')]).status_code == 201
        time.sleep(1.0); assert not rec.received and len(rec.calls) >= 2
        rec.mode, rec.delay = 'ok', 1.0                                 # slower than the webhook timeout
        assert wait_journal(sds, m.SUP, 'S-IF-021-1400000001-SDS-20250110-a', lambda j: 'Timeout' in (j.get('detail') or ''))
        rec.delay = 0.0
        assert wait_journal(sds, m.SUP, 'S-IF-021-1400000001-SDS-20250110-a', lambda j: j['status'] == 'Delivered')
        assert rec.wait_for(1, timeout=20)
        port = rec.port; rec.stop(); time.sleep(0.5)                    # down: connection refused
        assert sds.send('IF-021', [m.if021('2025-01-03', 'S-IF-021-1400000001-SDS-20250110-b')]).status_code == 201
        time.sleep(1.0)
        from mhhs_ref.dip.http import WebhookReceiver
        rec2 = WebhookReceiver(m.dip.cert_pem, dip_id='0000000000', port=port); rec2.start()
        assert rec2.wait_for(1, timeout=30)
        assert wait_journal(sds, m.SUP, 'S-IF-021-1400000001-SDS-20250110-b', lambda j: j['status'] == 'Delivered')
        journal = [j for j in sds.delivery_status('IF-021', 'S-IF-021-1400000001-SDS-20250110-b') if j['recipient'] == m.SUP]
        assert 'Retrying' in [j['status'] for j in journal] and journal[-1]['status'] == 'Delivered', journal
        rec2.stop()
    finally: m.server.stop()

@verifies('DIP-P005')
def test_retries_exhausted_reported_to_sender(tmp_path, store):
    from conftest import Market
    m = Market(tmp_path, retry={'first_delay': 0.1, 'max_attempts': 3}, store=store)
    m.server.start()
    try:
        rec = m.receiver(); status = m.receiver()
        sup = m.client(m.SUP, 'SUP'); supplier_for(m, sup, rec)
        sds = m.client(m.SDS, 'SDS')
        assert sds.configure_status(status.url + '/status').status_code == 201
        rec.mode = 'fail'
        assert sds.send('IF-021', [m.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-x')]).status_code == 201
        assert status.wait_for(1, timeout=20)
        assert status.received[0]['message'].startswith('REF0106 - Delivery retries exhausted')
        rec.stop(); status.stop()
    finally: m.server.stop()

@verifies('DIP-P008')
def test_security(market):
    sds = market.client(market.SDS, 'SDS'); sup = market.client(market.SUP, 'SUP')
    msg = market.if021('2025-01-02', 'S-IF-021-1400000001-SDS-20250110-s')
    url = market.server.url + '/dip-channel/IF-021'
    body = json.dumps([msg]).encode()
    base = {'content-type': 'application/json', 'X-API-Key': f'key-{market.SDS}'}
    assert code(httpx.post(url, content=body, headers=base)) == (401, 'REF0105')                                      # unsigned
    forged = sign_request(market.ids[market.SUP], 'POST', url, body)                                                  # someone else's key
    assert code(httpx.post(url, content=body, headers={**base, **forged})) == (401, 'REF0105')
    old = sign_request(market.ids[market.SDS], 'POST', url, body, when=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    assert code(httpx.post(url, content=body, headers={**base, **old})) == (401, 'REF0105')                           # expired
    good = sign_request(market.ids[market.SDS], 'POST', url, body)
    assert httpx.post(url, content=body, headers={**base, **good}).status_code == 201
    assert code(httpx.post(url, content=body, headers={**base, **good})) == (401, 'REF0105')                          # replayed signature
    tampered = {**good, 'X-DIP-Signature': good['X-DIP-Signature'][:-4] + 'AAA='}
    assert code(httpx.post(url, content=body, headers={**base, **tampered})) == (401, 'REF0105')
    assert code(sup.send('IF-021', [msg])) == (403, 'REF0101')                                                        # SUP may not send IF-021
    other = dict(msg); other = json.loads(json.dumps(msg)); other['payload']['CommonBlock']['S1']['senderDIPID'] = market.MDS
    r = sds.send('IF-021', [other]); assert code(r) == (403, 'REF0101')                                               # S1 names another DIP id
    assert code(sup.request('POST', f'/dip-channel/IF-021/replay/{market.SDS}', {})) == (403, 'REF0102')               # someone else's publications
    assert code(sup.request('POST', f'/dip-channel/IF-021/pubconfig/{market.SDS}', {'callbackURL': 'http://127.0.0.1:9/x'})) == (403, 'REF0102')
