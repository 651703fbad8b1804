"""Faults: kill -9 the DIP under load and restart it — no accepted message is lost and every delivery completes."""

import threading, time

import httpx

from mhhs_ref.design import verifies


@verifies('DIP-TC003')
def test_kill9_under_load_loses_nothing_accepted(tmp_path, store):
    from conftest import Market

    m = Market(tmp_path, retry={'first_delay': 0.2, 'max_attempts': 30}, store=store)
    m.server.start()
    rec = m.receiver()
    try:
        sup = m.client(m.SUP, 'SUP')
        assert sup.configure('IF-021', rec.url + '/hook').status_code == 201
        assert (
            m.client(m.REGS, 'REGS')
            .send('IF-001', [m.if001(m.SUP, '2025-01-01T00:00:00+00:00', 'S-IF-001-1000000001-REGS-20241220-k')])
            .status_code
            == 201
        )
        accepted, stop = set(), threading.Event()

        def load():
            sds = m.client(m.SDS, 'SDS')
            k = 0
            while not stop.is_set():
                batch = [m.if021('2025-01-05', f'S-IF-021-1400000001-SDS-20250106-L{k}x{j}') for j in range(20)]
                k += 1
                try:
                    r = sds.send('IF-021', batch)
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue  # server down: the sender retries later
                if r.status_code == 201:
                    accepted.update(x['transactionID'] for x in r.json()['messageArray'])

        t = threading.Thread(target=load)
        t.start()
        time.sleep(2.0)
        m.server.kill9()  # unclean stop mid-stream
        n_at_kill = len(accepted)
        time.sleep(0.5)
        m.server.start()  # same database, same port
        time.sleep(2.0)
        stop.set()
        t.join(30)
        assert n_at_kill > 0 and len(accepted) > n_at_kill
        deadline = time.time() + 60
        while time.time() < deadline:
            got = {x['payload']['CommonBlock']['D0']['transactionID'] for x in list(rec.received)}
            if accepted <= got:
                break
            time.sleep(0.2)
        missing = accepted - got
        assert not missing, f"{len(missing)} of {len(accepted)} accepted messages never delivered"
        time.sleep(1.0)
        txns = [x['payload']['CommonBlock']['D0']['transactionID'] for x in list(rec.received)]
        print(
            f"kill -9 x1 ({store['kind']}): {len(accepted)} accepted, lost 0, delivered more than once "
            f"{len(txns) - len(set(txns))} "
            "(each repeat with its transaction id)"
        )
    finally:
        rec.stop()
        m.server.stop()
