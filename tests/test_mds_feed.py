"""The MDS's registration feed (nbs/33a_mds_registration_feed.ipynb) against Registration itself.

The feed learns an MPAN's data service, supplier, energisation, trading status, connection type and energy direction
only from the publications the DIP delivers to the MDS. These tests drive a real RegistrationService through the
market's processes — new connection, change of supplier, change of data service, energisation, connection type and
segment changes, energy direction, disconnection, reconnection, de-registration — with the feed standing at the
MDS's DIP endpoint, and require its view to equal `registration_view` on every day; then re-delivery, restart,
threads, refused IF-008, an unknown MPAN, the IF-021/IF-036 race through the MDS, and a stateful run of random
Registration processes (the state machine of test_registration_stateful) with the feed following.
"""

import datetime as dt
import os
import threading

import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis.stateful import initialize, invariant

from mhhs_ref.core import complete_mpan_core
from mhhs_ref.data_services import processing as dp
from mhhs_ref.design import verifies
from mhhs_ref.mds import MarketWideDataService, registration_view
from mhhs_ref.mds_feed import FEED_CHANNELS, RegistrationFeed
from mhhs_ref.processes import Market, demo_market, standin_consumption, standin_meters
from mhhs_ref.registration import Publication

from test_registration_stateful import Ownership

DAYS = pd.date_range('2026-09-28', '2026-12-31').date


class Tap:
    "The MDS's DIP endpoint in these tests: keeps each delivery and hands it to the feed."

    def __init__(self, feed):
        self.feed, self.delivered = feed, []

    def handle(self, ch, body):
        self.delivered.append((ch, body))
        return self.feed.handle(ch, body)


def _frame(m, mpan, since='2026-10-01'):
    return pd.DataFrame(
        [
            dict(
                mpan=mpan,
                created_on=since,
                gsp_group='_H',
                connection_type='W',
                energy_direction='I',
                domestic_premise=True,
                duos_tariff='1',
                market_segment='S',
                energisation='E',
                supplier=m.first('SUP'),
                ms=m.first('MSS'),
                ds=m.first('SDS'),
                meters=standin_meters(mpan, since),
            )
        ]
    )


def _run(db=':memory:'):
    "A market whose MDS endpoint feeds a RegistrationFeed, through every process that changes what the MDS reads."
    m = Market()
    feed = RegistrationFeed(db, clock=m.clock)
    tap = Tap(feed)
    m.attach(m.first('MDS'), tap)
    old, new = complete_mpan_core('200000000001'), complete_mpan_core('200000777001')
    s1, s2, s3 = (m.first('SUP', k) for k in range(3))
    frame = _frame(m, old)
    m.load(frame)
    feed.load_mpans(frame)
    for k, s in enumerate((s1, s2, s3)):
        m.actors[s].preferred = {r: m.first(r, k) for r in ('MSS', 'SDS', 'MSA', 'ADS')}
    m.create_mpan(
        new,
        created_on='2026-11-02',
        address={'addressLine1': '1 New Build Close'},
        connection_type='W',
        meters=standin_meters(new, '2026-11-02'),
    )
    m.switch(new, s2, '2026-11-05')
    m.switch(old, s2, '2026-11-06')
    m.advance_to('2026-11-06')  # initial registration, change of supplier
    m.appoint(s2, new, 'DS', m.first('SDS', 2), '2026-11-06')
    m.advance_to('2026-11-08')  # change of data service (CSP)
    m.energisation(m.registration.as_at(new)['MS']['dip_id'], new, 'D', '2026-11-07')  # IF-008
    m.connection_type_change(old, 'L', '2026-11-06')  # IF-044
    m.switch(new, s3, '2026-11-20')
    m.advance_to('2026-11-20')  # change of supplier, services change too
    m.ldso_change(new, 'EnergyDirection', 'E', '2026-11-20')  # IF-018
    m.disconnection(old, 'MPANDisconnection', '2026-11-19')
    m.advance_to('2026-11-22')
    m.disconnection(old, 'MPANReconnection', '2026-11-21')
    m.appoint(s2, old, 'DS', m.first('SDS', 3), '2026-11-25')
    m.advance_to('2026-11-26')  # prospective CSP, activated by tick
    m.disconnection(new, 'CSSDeRegistration', '2026-11-24')  # IF-009, IF-037 DEREG
    m.appoint(s2, old, 'DS', m.first('ADS'), '2026-11-26', 'SEG')
    m.appoint(s2, old, 'MS', m.first('MSA'), '2026-11-26', 'SEG')
    m.advance_to('2026-11-27')  # change of segment: IF-044
    return m, feed, tap, frame, (old, new)


def _mismatches(feed, reg, mpans, days=DAYS):
    rv = registration_view(reg)
    return [(mp, d, feed.view(mp, d), rv(mp, d)) for mp in mpans for d in days if feed.view(mp, d) != rv(mp, d)]


def test_feed_equals_registration_view():
    m, feed, tap, _, mpans = _run()
    with verifies(
        'ASM-MDS-FEED',
        'ASM-MDS-FEED-DATES',
        'ASM-MDS-FEED-MIGRATION',
        'ASM-MDS-REGISTRATION-VIEW',
        'IF-001',
        'IF-008',
        'IF-009',
        'IF-018',
        'IF-036',
        'IF-037',
        'IF-044',
    ):
        assert _mismatches(feed, m.registration, mpans) == []
        got = feed.messages()
        assert set(got.channel) == {'IF-001', 'IF-008', 'IF-009', 'IF-018', 'IF-036', 'IF-037', 'IF-044'}
        assert set(got.channel) <= set(FEED_CHANNELS)
        assert (got.outcome == 'taken').sum() >= 20
        # what changed, as the feed holds it
        v = lambda mp, d: feed.view(mp, d)
        old, new = mpans
        assert v(new, '2026-11-05')['ds'] == m.first('SDS', 1) and v(new, '2026-11-06')['ds'] == m.first('SDS', 2)
        assert v(new, '2026-11-07')['energisation'] == 'D' and v(new, '2026-11-06')['energisation'] == 'E'
        assert (v(old, '2026-11-06')['connection_type'], v(old, '2026-11-06')['connection_type_from']) == (
            'L',
            '2026-11-06',
        )
        assert v(old, '2026-11-19')['mp_status'] == 'X' and v(old, '2026-11-21')['mp_status'] == 'T'
        assert v(new, '2026-11-20')['energy_direction'] == 'E'
        assert v(new, '2026-11-24')['supplier'] is None and v(new, '2026-11-24')['ds'] is None
        assert v(old, '2026-11-26')['ds'] == m.first('ADS')


def test_redelivery_and_restart(tmp_path):
    m, feed, tap, frame, mpans = _run(str(tmp_path / 'feed.db'))
    count = lambda f: f.con.execute(
        'SELECT (SELECT count(*) FROM feed_facts), (SELECT count(*) FROM feed_messages)'
    ).fetchone()
    before = count(feed)
    with verifies('ASM-MDS-FEED'):
        for ch, body in tap.delivered:
            feed.handle(ch, body)  # the DIP delivers everything again
        assert count(feed) == before
        feed.con.close()
        again = RegistrationFeed(str(tmp_path / 'feed.db'), clock=m.clock)  # a restart on the same file
        assert count(again) == before
        assert _mismatches(again, m.registration, mpans) == []
        assert again.con.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'


def test_threads():
    m, feed, tap, frame, mpans = _run()
    fresh = RegistrationFeed(clock=m.clock)
    fresh.load_mpans(frame)
    errors = []

    def reader():
        try:
            for d in DAYS[::7]:
                for mp in mpans:
                    fresh.view(mp, d)
        except Exception as e:
            errors.append(e)

    def writer(part):
        try:
            for ch, body in part:
                fresh.handle(ch, body)
        except Exception as e:
            errors.append(e)

    # every delivery handed in by four threads at once (each message twice), readers alongside
    ts = [threading.Thread(target=writer, args=(tap.delivered,)) for _ in range(2)] + [
        threading.Thread(target=reader) for _ in range(2)
    ]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    with verifies('ASM-MDS-FEED'):
        assert len(fresh.messages()) == len(feed.messages())
        # delivered in the same order each time, so the result is the same as delivered once
        assert _mismatches(fresh, m.registration, mpans) == []


def test_unknown_mpan_and_refused_if008():
    m, mpans = demo_market()
    feed = RegistrationFeed(clock=m.clock)
    tap = Tap(feed)
    m.attach(m.first('MDS'), tap)
    mp = mpans[0]
    v = feed.view(mp, '2026-11-02')
    with verifies('ASM-MDS-FEED'):
        assert v == {
            'ds': None,
            'energisation': None,
            'mp_status': None,
            'connection_type': None,
            'connection_type_from': '2026-11-02',
            'energy_direction': None,
            'supplier': None,
            'known': False,
        }
        m.energisation(
            m.first('MSS', 1), mp, 'D', '2026-11-01'
        )  # not its metering service: Registration refuses (REG1019)
        assert [ch for ch, _ in tap.delivered] == ['IF-008']
        assert feed.messages().outcome.tolist() == ['ignored: a refused change']
        assert feed.view(mp, '2026-11-02').get('known') is False  # a refused change says nothing about the MPAN
        assert feed.handle('IF-021', tap.delivered[0][1]) == []  # not a Registration channel: left to the MDS


def test_race_if021_before_if036():
    m, _ = demo_market()
    mds_id, sup = m.first('MDS'), m.first('SUP', 1)
    new = complete_mpan_core('200000777001')
    m.create_mpan(
        new, created_on='2026-11-02', address=None, connection_type='W', meters=standin_meters(new, '2026-11-02')
    )
    m.switch(new, sup, '2026-11-05')
    m.advance_to('2026-11-06')
    ds, day = m.registration.as_at(new, '2026-11-05')['DS']['dip_id'], dt.date(2026, 11, 5)
    m.actors[ds].collected[(new, day)] = standin_consumption(new, day)
    m.submit_consumption(day)
    got = {
        (ch, b['payload']['CommonBlock']['S0']['eventCode']): b
        for ch, b in m.actor(mds_id).received
        if b['payload']['CommonBlock']['M0']['MPANCore'] == new
    }
    feed = RegistrationFeed(clock=m.clock)
    mds = MarketWideDataService(view=feed, clock=m.clock, dip_id=mds_id)
    with verifies('ASM-MDS-FEED', 'IF-036', 'IF-014', 'RCP1009', 'BP019'):
        assert mds.handle('IF-001', got[('IF-001', '[InitialRegistration]')]) == []
        out = mds.handle('IF-021', got[('IF-021', '[ActivePower]')])
        assert [(p.channel, p.event) for p in out] == [('IF-014', 'ActivePowerRejected')]
        assert out[0].body['payload']['CommonBlock']['R0']['responseMessages'][0].startswith('RCP1009')
        mds.handle('IF-036', got[('IF-036', '[DSAppActive]')])
        again = dp.to_if021(m.actor(ds).submitted[(new, day)], ds, 'SDS', now=m.clock())[0]
        assert mds.handle('IF-021', again) == []
        assert len(mds.versions(new)) == 1 and list(mds.refusals().code) == ['RCP1009']


class FeedFollows(Ownership):
    "test_registration_stateful's random Registration processes, with a feed at the MDS's endpoint that must keep up."

    @initialize()
    def market(self):
        Ownership.market(self)
        self.feed = RegistrationFeed(clock=self.m.clock)
        self.m.attach(self.m.first('MDS'), self.feed)
        self.feed.load_mpans(pd.concat([_frame(self.m, mp) for mp in self.mpans], ignore_index=True))

    @invariant()
    def feed_equals_registration(self):
        if not hasattr(self, 'feed'):
            return
        today = self.m.clock.today()
        days = [today + dt.timedelta(days=k) for k in range(-40, 35, 3)]
        assert _mismatches(self.feed, self.m.registration, self.mpans, days) == []


FeedFollows.TestCase.settings = settings(
    max_examples=int(os.environ.get('MHHS_STATEFUL_EXAMPLES', '15')),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_feed_follows_random_processes():
    with verifies('ASM-MDS-FEED', 'ASM-MDS-FEED-DATES', 'ASM-MDS-REGISTRATION-VIEW'):
        FeedFollows.TestCase('runTest').runTest()
