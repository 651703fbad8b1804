"""Conformance with Elexon's DIP API specification v2.1.0, as a whole-project check.

* every message the suite built (gathered by conftest while the notebooks and tests ran) validates against the
  JSON Schema we publish for its channel — an independent path from `validate_message`;
* every code raised anywhere in the package is in the code file, and every code of an official family is in DI-999
  (the meanings are held to DI-999 by the test in 00_core);
* the published schemas pin `interfaceID` and `eventCode`.
"""

import json, re
from pathlib import Path

import jsonschema
import pytest

from mhhs_ref.core import REJECTION_CODES
from mhhs_ref.design import verifies
from mhhs_ref.interfaces import channels, spec_catalogue

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = {'MSG', 'RCP', 'REG', 'ECS', 'SP', 'DS'}


@verifies('DIP-P003', 'DIP-P008')
def test_everything_built_conforms(request, _gather_built_messages):
    BUILT = _gather_built_messages  # gathered by conftest while the whole suite ran
    if not getattr(request.config, '_mhhs_full_run', False) or not BUILT:
        pytest.skip("gathers the messages of the whole suite: run it all (pytest)")
    bad, checked = [], 0
    by_channel = {}
    for (cid, event), rec in sorted(BUILT.items()):
        v = jsonschema.Draft7Validator(json.loads((ROOT / 'schemas' / f'{cid}.json').read_text()))
        for text in rec['samples']:
            checked += 1
            errs = list(v.iter_errors(json.loads(text)))
            if errs:
                bad.append(f"{cid} [{event}]: {errs[0].message[:200]}")
            by_channel.setdefault(cid, []).append(not errs)
    for cid, oks in by_channel.items():  # the matrix shows, per channel, whether what we send of it conforms
        try:
            with verifies(cid, test=f'tests/test_conformance.py::built[{cid}]'):
                assert all(oks), cid
        except AssertionError:
            pass  # recorded as failed; the assertion below names the messages
    total = sum(r['count'] for r in BUILT.values())
    print(
        f"\n{total} messages built in {len(BUILT)} events of {len({c for c, _ in BUILT})} channels; "
        f"{checked} samples re-validated against schemas/: {checked - len(bad)} of {checked} valid"
    )
    (ROOT / '_trace').mkdir(exist_ok=True)
    (ROOT / '_trace' / 'built_messages.json').write_text(
        json.dumps(
            {
                f'{c} [{e}]': {'count': r['count'], 'samples': [json.loads(s) for s in r['samples'][:3]]}
                for (c, e), r in sorted(BUILT.items())
            },
            indent=1,
        )
    )
    assert not bad, "\n".join(bad[:20])


_ANY_CODE = re.compile(r"""['"]((?:MSG|RCP|REG|ECS|SP|DS|DSCA|REF)\d{3,4})\b""")


def test_codes_raised_are_official_or_listed():
    "Every code literal in the package is in the code file; an official-family code must be in DI-999."
    official = spec_catalogue()['codes']
    found = {}
    for p in sorted((ROOT / 'mhhs_ref').rglob('*.py')):
        if p.name == '_modidx.py':
            continue
        for m in _ANY_CODE.finditer(p.read_text()):
            found.setdefault(m.group(1), set()).add(p.relative_to(ROOT).as_posix())
    unknown = {c: sorted(w) for c, w in found.items() if c not in REJECTION_CODES}
    assert not unknown, f"codes used but not in rejection_codes.csv: {unknown}"
    unofficial = {c: sorted(w) for c, w in found.items() if REJECTION_CODES[c].family in OFFICIAL and c not in official}
    assert not unofficial, f"codes of an official family that DI-999 does not have: {unofficial}"


def test_published_schemas_pin_channel_and_event():
    for cid, ch in channels().items():
        if ch.unpublished:
            continue
        s = json.loads((ROOT / 'schemas' / f'{cid}.json').read_text())
        s0 = s['properties']['payload']['properties']['CommonBlock']['properties']['S0']['properties']
        assert s0['interfaceID'] == {'const': cid}
        assert s0['eventCode'] == {'enum': [f'[{e}]' for e in spec_catalogue()['channels'][cid]['events']]}


# Malformed variants, per class: every event's smallest valid message (interfaces.example_message), broken one way
# at a time. Both our validator and the published JSON Schema must refuse each, and ours with the DI-999 code the
# class calls for. The same classes are measured against the specification itself by tools/conformance.py.
import copy
from mhhs_ref.interfaces import MessageInvalid, channel_schema, example_message, validate_message


def _s(block, key, value):
    def f(m):
        m['payload']['CommonBlock'].setdefault(
            block, {'primaryRecipients': [], 'secondaryRecipients': [], 'always': []} if block == 'A0' else {}
        )[key] = value

    return f


def _leaf(want, change):
    "Change the first custom-block leaf value that `want` picks."

    def f(m):
        def walk(x):
            if isinstance(x, dict):
                items = list(x.items())
            elif isinstance(x, list):
                items = list(enumerate(x))
            else:
                return False
            for k, v in items:
                if not isinstance(v, (dict, list)) and want(v):
                    x[k] = change(v)
                    return True
                if walk(v):
                    return True
            return False

        return walk(m['payload'].get('CustomBlock') or {}) or None

    return f


def _drop_required(m, ev):
    req = ev['custom']['required']
    if not req:
        return None
    m['payload']['CustomBlock'].pop(req[0])


CLASSES = {  # class -> (mutation, expected code)
    'required custom block removed': (lambda m, ev: _drop_required(m, ev), 'MSG1001'),
    'unknown custom block added': (lambda m, ev: m['payload'].setdefault('CustomBlock', {}).update(B999={}), 'MSG1001'),
    'null for a block': (lambda m, ev: m['payload'].setdefault('CustomBlock', {}).update(B998=None), 'MSG1001'),
    'S1 removed': (lambda m, ev: m['payload']['CommonBlock'].pop('S1'), 'MSG1001'),
    'schemaVersion 999': (lambda m, ev: _s('S0', 'schemaVersion', '999')(m), 'MSG1001'),
    'interfaceID of another channel': (lambda m, ev: _s('S0', 'interfaceID', 'IF-999')(m), 'MSG1002'),
    'eventCode not of the channel': (lambda m, ev: _s('S0', 'eventCode', '[NoSuchEvent]')(m), 'MSG1001'),
    'senderTimestamp of 24 characters': (
        lambda m, ev: _s('S1', 'senderTimestamp', '2026-01-01T00:00:00+0000')(m),
        'MSG1007',
    ),
    'senderDIPID of 9 characters': (lambda m, ev: _s('S1', 'senderDIPID', '100000000')(m), 'MSG1009'),
    'senderRoleID of 6 characters': (lambda m, ev: _s('S1', 'senderRoleID', 'SUPPLY')(m), 'MSG1010'),
    'DIPConnectionProviderID of 1 character': (lambda m, ev: _s('S1', 'DIPConnectionProviderID', '1')(m), 'MSG1011'),
    'senderCorrelationID empty': (lambda m, ev: _s('S1', 'senderCorrelationID', '')(m), 'MSG1012'),
    'environmentTag not an enum value': (lambda m, ev: _s('S1', 'environmentTag', 'PROD')(m), 'MSG1001'),
    'senderUniqueReference off its pattern': (lambda m, ev: _s('S1', 'senderUniqueReference', 'ref-1')(m), 'MSG1001'),
    'subText removed (required though nullable)': (
        lambda m, ev: m['payload']['CommonBlock']['S1'].pop('subText'),
        'MSG1001',
    ),
    'primary recipient of 3 characters': (lambda m, ev: _s('A0', 'primaryRecipients', ['123'])(m), 'MSG1031'),
    'secondary recipient of 3 characters': (lambda m, ev: _s('A0', 'secondaryRecipients', ['123'])(m), 'MSG1033'),
    'always recipient of 3 characters': (lambda m, ev: _s('A0', 'always', ['123'])(m), 'MSG1035'),
    'a string given as a number': (lambda m, ev: _leaf(lambda v: isinstance(v, str), lambda v: 7)(m), 'MSG1001'),
    'a number given as a string': (
        lambda m, ev: _leaf(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), str)(m),
        'MSG1001',
    ),
    'a boolean given as "true"': (lambda m, ev: _leaf(lambda v: isinstance(v, bool), lambda v: 'true')(m), 'MSG1001'),
    'a string of 2,001 characters': (
        lambda m, ev: _leaf(lambda v: isinstance(v, str), lambda v: 'x' * 2001)(m),
        'MSG1001',
    ),
}


def test_malformed_variants_refused_per_class():
    """Where the specification refuses a variant we refuse it with the class's code; where it leaves it open, we accept
    it."""
    cat = spec_catalogue()
    counts = {
        c: [0, 0, 0] for c in CLASSES
    }  # class -> [variants, refused by the schema and by us with the code, open in the schema and accepted]
    wrong = []
    for cid, ch in cat['channels'].items():
        schema = jsonschema.Draft7Validator(channel_schema(cid))
        for event, ev in ch['events'].items():
            good = example_message(cid, event)
            assert schema.is_valid(good) and validate_message(cid, good)
            for cls, (mutate, code) in CLASSES.items():
                m = copy.deepcopy(good)
                if mutate(m, ev) is None and m == good:
                    continue
                counts[cls][0] += 1
                try:
                    validate_message(cid, m)
                    got = 'accepted'
                except MessageInvalid as e:
                    got = e.code
                if schema.is_valid(m):
                    counts[cls][2] += got == 'accepted'
                    if got != 'accepted':
                        wrong.append(f"{cid} [{event}] {cls}: the published schema leaves it open, we answer {got}")
                else:
                    counts[cls][1] += got == code
                    if got != code:
                        wrong.append(f"{cid} [{event}] {cls}: we answer {got}, want {code}")
    for cls, (n, refused, open_) in counts.items():
        print(f"{cls:45} {n:4} variants: {refused:4} refused with the code, {open_:3} open in the spec and accepted")
    for code in sorted({code for cls, (_, code) in CLASSES.items() if counts[cls][1]}):  # each code proven by its class
        with verifies(code, test=f'tests/test_conformance.py::malformed[{code}]'):
            assert not [w for w in wrong if f'want {code}' in w]
    assert all(n for n, _, _ in counts.values()), counts
    assert not wrong, "\n".join(wrong[:30])


def test_register_lists_every_official_channel_event_and_code():
    from mhhs_ref.design import load_register

    reg = set(load_register().id)
    cat = spec_catalogue()
    missing = [c for c in cat['channels'] if c not in reg]
    missing += [f'{c}-{e}' for c, ch in cat['channels'].items() for e in ch['events'] if f'{c}-{e}' not in reg]
    missing += [c for c in cat['codes'] if c not in reg]
    assert not missing, f"{len(missing)} official items without a register row: {missing[:20]}"
