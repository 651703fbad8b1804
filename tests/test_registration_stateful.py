"""Stateful property test of Registration over the DIP: random sequences of switches, objections, cancellations,
appointment requests (CSP, USP, SEG; good and bad), provider refusals, LDSO data changes, energisation outcomes,
disconnections and CSS de-registrations, meter installs, removals, exchanges and corrections (good and bad), and days
passing, on a market of three MPANs.

After every step:
- no MPAN has two suppliers on one day (supplier periods never overlap);
- a service's appointments never overlap, and each lies within a registration of the supplier that appointed it;
- every rejection carries a code the catalogue (or mhhs_ref's own list) defines: refusals raised to CSS/LDSO, IF-032
  `R` answers and IF-035 rejections alike;
- history is never silently rewritten: every fact row ever seen is still there, unchanged, and once superseded stays so;
- meters: an id is held once per MPAN; no meter is removed before it was installed; no meter was installed on a day
  the MPAN was disconnected, as Registration knew it when it recorded the install; in every accepted exchange the new
  meter is installed no earlier than the old one is removed.

CI runs a few dozen sequences; `MHHS_STATEFUL_EXAMPLES=10000` runs the benchmark size.
"""

import datetime as dt
import json
import os
import re

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from mhhs_ref.core import REJECTION_CODES, MhhsError
from mhhs_ref.design import verifies
from mhhs_ref.processes import demo_market
from mhhs_ref.registration import B074_KEYS, SEGMENT_ROLES
from mhhs_ref.time import wire_midnight

EXAMPLES = int(os.environ.get('MHHS_STATEFUL_EXAMPLES', '30'))
SP_CODES = ['SP001', 'SP003', 'SP005', 'SP007', 'SP011']
CODE = re.compile(r'^(REG|REF|SP|DS|RCP)\d{3,4}$')


class Ownership(RuleBasedStateMachine):
    @initialize()
    def market(self):
        self.m, self.mpans = demo_market(mpans=3, record=False)
        self.sups = self.m.participants('SUP')[:5]
        self.seen: dict[int, tuple] = {}  # fact id → the row as first seen
        self.superseded: dict[int, float] = {}
        self.msgs_checked = 0
        self.raised: list[str] = []

    def _day(self, lead: int) -> dt.date:
        return self.m.clock.today() + dt.timedelta(days=lead)

    def _expect_coded(self, fn):
        "Run an outside-the-DIP call; a refusal must carry a known code."
        try:
            fn()
        except MhhsError as e:
            assert e.code in REJECTION_CODES, e
            self.raised.append(e.code)

    @rule(i=st.integers(0, 2), s=st.integers(0, 4), lead=st.integers(-1, 6))
    def switch(self, i, s, lead):
        self._expect_coded(lambda: self.m.switch(self.mpans[i], self.sups[s], self._day(lead)))

    @rule(i=st.integers(0, 2), how=st.sampled_from(['cancel', 'object']))
    def stop_switch(self, i, how):
        open_ = self.m.css.requests().query("mpan == @self.mpans[@i] and state in ['Pending', 'Secured']")
        if open_.empty:
            return
        css_id = open_.css_id.iloc[-1]

        def go():
            pubs = self.m.css.cancel(css_id) if how == 'cancel' else self.m.css.object_to(css_id, by='x')
            self.m.submit(self.m.regs, self.m.css_calls(pubs))
            self.m.run()

        self._expect_coded(go)

    @rule(
        i=st.integers(0, 2),
        s=st.integers(0, 4),
        svc=st.sampled_from(['MS', 'DS']),
        k=st.integers(0, 3),
        lead=st.integers(-8, 32),
        scenario=st.sampled_from(['CSP', 'USP', 'SEG']),
        wrong_role=st.booleans(),
    )
    def appoint(self, i, s, svc, k, lead, scenario, wrong_role):
        seg = self.m.registration.as_at(self.mpans[i])['market_segment']
        role = SEGMENT_ROLES['A' if wrong_role else seg][svc]
        self.m.appoint(
            self.sups[s],
            self.mpans[i],
            svc,
            self.m.first(role, k),
            self._day(lead),
            scenario=scenario,
            contract_ref=f'C{lead}',
        )  # business refusals travel as messages: nothing raised

    @rule(role=st.sampled_from(['MSS', 'SDS']), k=st.integers(0, 3), code=st.sampled_from([None] + SP_CODES))
    def provider_policy(self, role, k, code):
        self.m.actor(self.m.first(role, k)).decide = lambda body, c=code: c

    @rule(
        i=st.integers(0, 2),
        event=st.sampled_from(['AddressChg', 'DUOSTariffIDChg', 'DomPremInd', 'EnergyDirection']),
        lead=st.integers(-7, 2),
        good=st.booleans(),
    )
    def ldso_change(self, i, event, lead, good):
        value = {
            'AddressChg': {'addressLine1': f'{lead} Road'},
            'DUOSTariffIDChg': 'A1',
            'DomPremInd': False,
            'EnergyDirection': 'I',
        }[event]
        if not good:
            value = 'XXXX'
        self._expect_coded(lambda: self.m.ldso_change(self.mpans[i], event, value, self._day(lead)))

    @rule(
        i=st.integers(0, 2),
        event=st.sampled_from(['MPANDisconnection', 'MPANReconnection', 'CSSDeRegistration']),
        lead=st.integers(-7, 1),
    )
    def disconnection(self, i, event, lead):
        self._expect_coded(lambda: self.m.disconnection(self.mpans[i], event, self._day(lead)))

    @rule(i=st.integers(0, 2), status=st.sampled_from(['E', 'D']), k=st.integers(0, 1), lead=st.integers(-7, 1))
    def energisation(self, i, status, k, lead):
        self.m.energisation(self.m.first('MSS', k), self.mpans[i], status, self._day(lead))  # refusals travel as IF-008

    # -- meters (BP009): a small pool of ids so duplicates happen; the current metering service sends most of them
    def _ms(self, i, own, k):
        cur = self.m.registration.as_at(self.mpans[i])['MS']
        return cur['dip_id'] if own and cur else self.m.first('MSS', k)

    def _meter(self, n, day, smart_ok=True, **kw):
        return {
            'meterID': f'T{n}',
            'meterType': 'S2ADE',
            'ESMEGUID': '00-11-22-33-44-55-66-77' if smart_ok else None,
            'meterLocation': 'A',
            'numberOfDisplayedRegisterDigits': 6,
            'meterInstallationDate': wire_midnight(day),
            **kw,
        }

    def _id(self, i, n):
        """A meter id to act on: n = 0, 1 one installed now; 2, 3 one of the pool; 4 one already removed (each if there
        is one)."""
        rows = self.m.registration._meter_rows(self.mpans[i])
        installed = sorted(k for k, r in rows.items() if r['to'] is None)
        removed = sorted(k for k, r in rows.items() if r['to'] is not None)
        if n < 2 and installed:
            return installed[n % len(installed)]
        if n == 4 and removed:
            return removed[0]
        return f'T{n}'

    @rule(
        i=st.integers(0, 2),
        n=st.integers(0, 3),
        own=st.booleans(),
        k=st.integers(0, 1),
        lead=st.integers(-7, 1),
        map_lead=st.integers(-1, 1),
        smart_ok=st.booleans(),
    )
    def meter_install(self, i, n, own, k, lead, map_lead, smart_ok):
        day = self._day(lead)
        self.m.mtd(
            self._ms(i, own, k),
            self.mpans[i],
            'MeterInstall',
            meter=self._meter(n, day, smart_ok),
            history_map=[
                {
                    'meterAssetProviderID': 'MAPA',
                    'meterAssetProviderEffectiveFromDate': wire_midnight(day + dt.timedelta(days=map_lead)),
                }
            ],
        )

    @rule(i=st.integers(0, 2), n=st.integers(0, 4), own=st.booleans(), k=st.integers(0, 1), lead=st.integers(-7, 1))
    def meter_removal(self, i, n, own, k, lead):
        self.m.mtd(
            self._ms(i, own, k), self.mpans[i], 'MeterRemoval', removed=self._id(i, n), removed_on=self._day(lead)
        )

    @rule(
        i=st.integers(0, 2),
        old=st.integers(0, 4),
        new=st.integers(0, 3),
        own=st.booleans(),
        lead=st.integers(-7, 1),
        gap=st.integers(-1, 1),
    )
    def meter_exchange(self, i, old, new, own, lead, gap):
        day = self._day(lead)
        self.m.mtd(
            self._ms(i, own, 0),
            self.mpans[i],
            'MeterExchange',
            meter=self._meter(new, day + dt.timedelta(days=gap)),
            history_map=[
                {
                    'meterAssetProviderID': 'MAPB',
                    'meterAssetProviderEffectiveFromDate': wire_midnight(day + dt.timedelta(days=gap)),
                }
            ],
            removed=self._id(i, old),
            removed_on=day,
        )

    @rule(
        i=st.integers(0, 2),
        n=st.integers(0, 4),
        own=st.booleans(),
        what=st.sampled_from(['location', 'id', 'date', 'id+date', 'history']),
        lead=st.integers(-3, 0),
    )
    def meter_update(self, i, n, own, what, lead):
        mid = self._id(i, n)
        held = self.m.registration._meter_rows(self.mpans[i]).get(mid)
        meter = {k: held['value'][k] for k in B074_KEYS} if held else self._meter(n, self._day(lead))
        if 'location' == what:
            meter['meterLocation'] = 'D'
        if 'id' in what:
            meter['modifiedMeterID'] = f'U{n}'
        if 'date' in what:
            meter['meterInstallationDate'] = wire_midnight(self._day(lead))
        event = 'MeterHistoryUpdate' if what == 'history' else 'MeterUpdate'
        self.m.mtd(self._ms(i, own, 1), self.mpans[i], event, meter=meter)

    @rule(days=st.integers(1, 9))
    def days_pass(self, days):
        self.m.advance_to(self._day(days))

    # -- invariants
    def _periods(self, mpan, kind):
        p = self.m.registration.periods(mpan, kind)
        return [(v, f, t) for v, f, t in p.itertuples(index=False)]

    @invariant()
    def one_supplier_a_day(self):
        if not hasattr(self, 'm'):
            return
        for mpan in self.mpans:
            ps = self._periods(mpan, 'supplier')
            for (_, f1, t1), (_, f2, _) in zip(ps, ps[1:]):
                assert t1 is not None and t1 < f2, (mpan, ps)

    @invariant()
    def appointments_within_supply(self):
        if not hasattr(self, 'm'):
            return
        far = str(self._day(400))
        for mpan in self.mpans:
            for svc in ('MS', 'DS'):
                ps = self._periods(mpan, svc)
                for (_, f1, t1), (_, f2, _) in zip(ps, ps[1:]):
                    assert t1 is not None and t1 < f2, (mpan, svc, ps)
                for v, f, t in ps:
                    for day in (f, t or far):
                        sup = self.m.registration.as_at(mpan, day)['supplier']
                        assert sup and sup['dip_id'] == v['supplier'], (mpan, svc, v, f, t, day, sup)

    @invariant()
    def every_rejection_has_a_code(self):
        if not hasattr(self, 'm'):
            return
        for (code,) in self.m.registration.con.execute('SELECT code FROM rejections'):
            assert code and CODE.match(code) and code in REJECTION_CODES, code
        rows = [(x['row'], x['channel'], x['body']) for x in self.m.hub.messages(('IF-032', 'IF-035'),
                                                                                 after=self.msgs_checked)]
        for rowid, ch, body in rows:
            b = body['payload']
            ev = b['CommonBlock']['S0']['eventCode']
            if ch == 'IF-032' and b['CommonBlock']['R0']['responseCode'] == 'R':
                assert CODE.match(b['CommonBlock']['R0']['responseMessages'][0][:7]), b['CommonBlock']['R0']
            if ch == 'IF-035' and 'Rejected' in ev:
                assert b['CustomBlock']['B007']['proposedAppointmentResponseCode'] in REJECTION_CODES, b['CustomBlock'][
                    'B007'
                ]
            self.msgs_checked = max(self.msgs_checked, rowid)

    @invariant()
    def meters_hold_together(self):
        if not hasattr(self, 'm'):
            return
        con = self.m.registration.con
        for mpan in self.mpans:
            rows = con.execute(
                "SELECT id, kind, value, effective_from, effective_to, superseded_at FROM facts WHERE mpan=? AND "
                "kind LIKE 'meter:%' ORDER BY id",
                (mpan,),
            ).fetchall()
            current = [r for r in rows if r[5] is None]
            assert len({r[1] for r in current}) == len(current), ('a meter id held twice', mpan, current)
            for rid, kind, value, f, t, _ in current:
                v = json.loads(value)
                assert kind == f"meter:{v['meterID']}", (kind, v)
                assert t is None or t >= f, ('removed before installed', mpan, kind, f, t)
            first_from = {}
            for (
                rid,
                kind,
                value,
                f,
                t,
                _,
            ) in rows:  # each install day as first recorded: not disconnected then (as known then)
                if first_from.get(kind) == f:
                    continue
                first_from[kind] = f
                status = con.execute(
                    """SELECT value FROM facts WHERE mpan=? AND kind='mp_status' AND id<? AND (superseded_by IS NULL OR
                    superseded_by>?) """
                    "AND effective_from<=? AND (effective_to IS NULL OR effective_to>=?)",
                    (mpan, rid, rid, f, f),
                ).fetchall()
                assert all(json.loads(s) != 'X' for (s,) in status), ('installed while disconnected', mpan, kind, f)
        for x in self.m.hub.messages('IF-006', event='MeterExchange'):
            b = x['body']['payload']
            if b['CommonBlock']['R0']['responseCode'] != 'A':
                assert CODE.match(b['CommonBlock']['R0']['responseMessages'][0][:7]), b['CommonBlock']['R0']
                continue
            cu = b['CustomBlock']
            assert cu['B906']['existingMeter']['meterInstallationDate'][:10] >= cu['B039']['meterRemovalDate'][:10], cu

    @invariant()
    def history_never_rewritten(self):
        if not hasattr(self, 'm'):
            return
        rows = self.m.registration.con.execute(
            'SELECT id, mpan, kind, value, effective_from, effective_to, recorded_at, superseded_at FROM facts'
        ).fetchall()
        ids = {r[0] for r in rows}
        assert set(self.seen) <= ids, 'a fact row disappeared'
        for r in rows:
            key = r[1:7]
            if r[0] in self.seen:
                assert self.seen[r[0]] == key, ('a fact row changed', self.seen[r[0]], key)
            else:
                self.seen[r[0]] = key
            if r[0] in self.superseded:
                assert r[7] == self.superseded[r[0]], 'a supersession changed'
            elif r[7] is not None:
                self.superseded[r[0]] = r[7]


Ownership.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_registration_properties():
    with verifies(
        'TOM-REGS',
        'ASM-REG-HISTORY',
        'BP001',
        'BP002',
        'BP003',
        'BP007',
        'BP008',
        'BP010',
        'BP011',
        'REF-REJECTION-CODES',
    ):
        with verifies('BP009', 'REG1002', 'REG1004', 'REG1005', 'REG1006', 'REG1007', 'REG1008', 'REG1012', 'REG1015'):
            Ownership.TestCase('runTest').runTest()
