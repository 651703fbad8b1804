"""Measure mhhs_ref against a clone of Elexon's DIP API specification (elexon-data/dip-api-documentation).

    .venv/bin/python tools/conformance.py --spec PATH [--messages _trace/built_messages.json] [--json OUT]

The oracle is the specification itself: its YAML modules are loaded as they are, every cross-module `$ref` resolved
through a `referencing` registry keyed by the URLs the modules use, and a message is judged with
openapi-schema-validator's OpenAPI 3.0 validator against the specification's own `DIPMessage` envelope — so none of
mhhs_ref's derivation is used to judge mhhs_ref. It prints:

1. the official examples: how many our DIP's validation accepts, after the upstream slips in them are repaired
   (each repair is listed: the examples break the specification's own schemas in these places);
2. malformed variants: for every (repaired) example and every sample of our own messages, one mutation per class
   (a required block removed, a wrong schemaVersion, a 24-character timestamp, a number as a string, ...); per class,
   how many the specification refuses and how many of those we accept (must be 0), and how many the specification
   accepts that we refuse (where we are stricter than published: must be 0 too, or explained);
3. our own messages (the samples the test suite gathered, `_trace/built_messages.json`): valid N of N under the oracle;
4. codes: which official codes we raise, whether each meaning is DI-999's, and our own codes with their reasons.
"""

from __future__ import annotations
import argparse, copy, json, re, sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE = 'https://raw.githubusercontent.com/elexon-data/dip-api-documentation/main/'


def oracle(spec: Path):
    "A function message -> list of error texts, judged by the specification's DIPMessage schema."
    from openapi_schema_validator import OAS30Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    docs = {p.name: yaml.safe_load(p.read_text()) for p in spec.glob('*-unresolved.yaml')}
    reg = Registry().with_resources(
        [(BASE + n, Resource.from_contents(d, default_specification=DRAFT4)) for n, d in docs.items()]
    )
    root = docs['SubmitEvents-unresolved.yaml']
    schema = {'$ref': BASE + 'SubmitEvents-unresolved.yaml#/components/schemas/DIPMessage'}
    v = OAS30Validator(schema, registry=reg)

    def judge(msg):
        return [e.message[:160] for e in v.iter_errors(msg)]

    return judge


def examples(spec: Path) -> dict[str, dict]:
    ex = yaml.safe_load((spec / 'Examples-unresolved.yaml').read_text())['components']['examples']
    out = {}
    for name, e in ex.items():
        vals = e['value'] if isinstance(e['value'], list) else [e['value']]
        for i, v in enumerate(vals):
            out[name if len(vals) == 1 else f'{name}#{i}'] = v
    return out


# The upstream slips: each repair moves an official example towards the specification's own schema, and says why.
KEY_CASE = {
    'InterfaceID': 'interfaceID',
    'interfaceId': 'interfaceID',
    'environment': 'environmentTag',
    'senderDIPId': 'senderDIPID',
    'senderRole': 'senderRoleID',
    'sentTimestamp': 'senderTimestamp',
    'senderCorrelationId': 'senderCorrelationID',
    'DIPConnectionProviderId': 'DIPConnectionProviderID',
    'CSSRegistrationRequestID': 'CSSRegistrationID',
    'addtionalInformation': 'additionalInformation',
    'incomingSupplierEffectiveFromDate': 'supplierEffectiveFromDate',
    'outgoingSupplierEffectiveToDate': 'supplierEffectiveToDate',
    'settlementPeriodDuration': 'periodDuration',
}


def repair(name: str, msg: dict) -> tuple[dict, list[str]]:
    "Repair what the examples get wrong against their own schemas; returns the message and the repairs made."
    msg, done = copy.deepcopy(msg), []

    def walk(x, path=''):
        if isinstance(x, dict):
            for k in list(x):
                if k in KEY_CASE:
                    x[KEY_CASE[k]] = x.pop(k)
                    done.append(f"key {k} -> {KEY_CASE[k]}")
            for k, v in x.items():
                walk(v, f"{path}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")

    walk(msg)
    p = msg['payload']
    cb, cu = p['CommonBlock'], p.get('CustomBlock') or {}
    s0, ch = cb['S0'], cb['S0'].get('interfaceID')
    if isinstance((cu.get('B032') or {}).get('SSC'), str) and len(cu['B032']['SSC']) < 4:
        cu['B032']['SSC'] = cu['B032']['SSC'].zfill(4)
        done.append("B032.SSC padded to its 4 digits")
    for b in ('B035List', 'B037List'):
        if isinstance(cu.get(b), dict):
            cu[b] = [cu[b]]
            done.append(f"{b} given as an object -> array")
    if ch == 'IF-002':
        for b in ('B035List', 'B037List'):
            if b in cu:
                cu.pop(b)
                done.append(f"{b} removed: not a block of IF-002")
    if isinstance(cu.get('B900List'), list):
        cu['B900'] = cu.pop('B900List')[0]
        done.append("B900List -> B900 (one object, as IF-021's schema has it)")
    r0 = cb.get('R0') or {}
    if isinstance(r0.get('responseMessages'), str):
        r0['responseMessages'] = [r0['responseMessages']]
        done.append("R0.responseMessages string -> array")
    if ch == 'IF-003' and s0.get('eventCode') == '[MSDeApp]':
        s0['eventCode'] = '[MSDeAppRM]'
        done.append("IF-003 event [MSDeApp] -> [MSDeAppRM]")
    if ch == 'IF-003' and 'B010' in cu:
        cu.pop('B010')
        done.append("B010 removed: not a block of IF-003 [MSDeAppRM]")
    if ch and ch.startswith('REP-') and 'schema' in cu:
        cu.pop('schema')
        done.append("CustomBlock.schema removed: it describes the report's format and is not sent (DIN-731)")
    if ch == 'REP-002' and s0.get('eventCode') == '[DUoSLDSOAggData]':
        s0['eventCode'] = '[DUOSSupplierAggData]'
        done.append("REP-002 event [DUoSLDSOAggData] (REP-002B's) -> [DUOSSupplierAggData]")
    if ch and ch.startswith('REP-') and s0.get('schemaVersion') == '006':
        s0['schemaVersion'] = '008'
        done.append("REP schemaVersion 006 -> 008")
    return msg, done


def ours():
    sys.path.insert(0, str(ROOT))
    from mhhs_ref.interfaces import validate_message, MessageInvalid
    from mhhs_ref.core import MhhsError

    def judge(msg):
        cid = (
            (((msg.get('payload') or {}).get('CommonBlock') or {}).get('S0') or {}).get('interfaceID')
            if isinstance(msg, dict)
            else None
        )
        try:
            validate_message(cid or 'IF-001', msg)
            return None
        except MhhsError as e:
            return f"{e.code} at {e.path}"

    return judge


# Malformed variants: each class is one function msg -> mutated msg (or None when it does not apply).
def _cb(m):
    return m['payload']['CommonBlock']


def _cu(m):
    return m['payload'].get('CustomBlock') or {}


def _first_leaf(x, want):
    "Path to the first leaf value satisfying want(value) in x (depth first)."
    if isinstance(x, dict):
        for k, v in x.items():
            if (p := _first_leaf(v, want)) is not None:
                return [k] + p
    elif isinstance(x, list):
        for i, v in enumerate(x):
            if (p := _first_leaf(v, want)) is not None:
                return [i] + p
    elif want(x):
        return []
    return None


def _set(x, path, value):
    for p in path[:-1]:
        x = x[p]
    x[path[-1]] = value


def _mut_leaf(want, change):
    def f(m):
        m = copy.deepcopy(m)
        p = _first_leaf(m['payload'].get('CustomBlock') or {}, want)
        if p is None:
            return None
        leaf = m['payload']['CustomBlock']
        for q in p:
            leaf = leaf[q]
        _set(m['payload']['CustomBlock'], p, change(leaf))
        return m

    return f


def _drop_custom(m):
    m = copy.deepcopy(m)
    cu = _cu(m)
    if not cu:
        return None
    cu.pop(sorted(cu)[0])
    return m


def _extra_block(m):
    m = copy.deepcopy(m)
    m['payload'].setdefault('CustomBlock', {})['B999'] = {'x': '1'}
    return m


def _null_block(m):
    m = copy.deepcopy(m)
    m['payload'].setdefault('CustomBlock', {})['B998'] = None
    return m


def _extra_field(m):
    m = copy.deepcopy(m)
    p = _first_leaf(_cu(m), lambda v: True)
    if not p:
        return None
    obj = m['payload']['CustomBlock']
    for q in p[:-1]:
        obj = obj[q]
    if not isinstance(obj, dict):
        return None
    obj['unexpectedField'] = 'x'
    return m


def _header(block, key, value):
    def f(m):
        m = copy.deepcopy(m)
        _cb(m)[block][key] = value
        return m

    return f


def _drop_header(block):
    def f(m):
        m = copy.deepcopy(m)
        _cb(m).pop(block, None)
        return m

    return f


CLASSES = {
    'required custom block removed': _drop_custom,
    'unknown custom block added': _extra_block,
    'null for an absent block': _null_block,
    'unknown field in a block': _extra_field,
    'S1 removed': _drop_header('S1'),
    'schemaVersion wrong (999)': _header('S0', 'schemaVersion', '999'),
    'interfaceID of another channel': _header('S0', 'interfaceID', 'IF-999'),
    'eventCode not of the channel': _header('S0', 'eventCode', '[NoSuchEvent]'),
    'senderTimestamp 24 characters': _header('S1', 'senderTimestamp', '2025-01-01T00:00:00+0000'),
    'senderTimestamp 26 characters': _header('S1', 'senderTimestamp', '2025-01-01T00:00:00.+00:00'),
    'environmentTag not an enum value': _header('S1', 'environmentTag', 'PROD'),
    'senderDIPID 9 characters': _header('S1', 'senderDIPID', '123456789'),
    'senderUniqueReference off-pattern': _header('S1', 'senderUniqueReference', 'ref-1'),
    'subText removed (required, nullable)': lambda m: (lambda c: (_cb(c)['S1'].pop('subText', None), c)[1])(
        copy.deepcopy(m)
    ),
    'a string field given a number': _mut_leaf(
        lambda v: isinstance(v, str) and not re.fullmatch(r'-?\d+(\.\d+)?', v), lambda v: 7
    ),
    'a numeric string given a number': _mut_leaf(
        lambda v: isinstance(v, str) and re.fullmatch(r'-?\d+\.\d+', v), lambda v: float(v)
    ),
    'a boolean given "true"': _mut_leaf(lambda v: isinstance(v, bool), lambda v: 'true'),
    'an integer given a string': _mut_leaf(lambda v: isinstance(v, int) and not isinstance(v, bool), lambda v: str(v)),
    'a string made 2001 characters': _mut_leaf(lambda v: isinstance(v, str), lambda v: 'x' * 2001),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--spec', type=Path, required=True, help="a local clone of elexon-data/dip-api-documentation")
    ap.add_argument(
        '--messages', type=Path, default=ROOT / '_trace' / 'built_messages.json', help="samples the test suite gathered"
    )
    ap.add_argument('--json', type=Path, help="also write the figures as JSON here")
    a = ap.parse_args(argv)
    if not (a.spec / 'SubmitEvents-unresolved.yaml').is_file():
        ap.error(f"{a.spec} is not a clone of the DIP API specification")
    official, mine = oracle(a.spec), ours()
    report = {}
    print("== 1. official examples (after repairing the upstream slips)")
    seeds, rows = [], []
    for name, ex in examples(a.spec).items():
        fixed, repairs = repair(name, ex)
        o, u = official(fixed), mine(fixed)
        rows.append({'example': name, 'repairs': repairs, 'official_errors': o[:3], 'ours': u or 'accepted'})
        print(
            f"  {name:28} official: {'valid' if not o else 'INVALID: ' + '; '.join(o[:2])}\n  {'':28} ours: "
            f"{u or 'accepted'}" + (f"\n  {'':28} repairs: {', '.join(repairs)}" if repairs else '')
        )
        if not o:
            seeds.append((name, fixed))
    valid = [r for r in rows if not r['official_errors']]
    acc = sum(r['ours'] == 'accepted' for r in valid)
    print(
        f"  examples valid under the specification once repaired: {len(valid)} of {len(rows)}; accepted by us: "
        f"{acc} of {len(valid)}"
    )
    report['examples'] = {'total': len(rows), 'valid_after_repair': len(valid), 'accepted': acc, 'rows': rows}
    built = json.loads(a.messages.read_text()) if a.messages.exists() else {}
    own = [(k, m) for k, r in built.items() for m in r['samples']]
    print(f"\n== 2. our own messages ({a.messages}; run the suite first)")
    bad = [(k, official(m)) for k, m in own]
    bad = [(k, e) for k, e in bad if e]
    for k, e in bad[:20]:
        print(f"  INVALID {k}: {e[0]}")
    print(f"  {len(own) - len(bad)} of {len(own)} sampled messages ({len(built)} events) valid under the specification")
    report['own'] = {'sampled': len(own), 'valid': len(own) - len(bad), 'events': len(built), 'invalid': bad[:50]}
    print(
        "\n== 3. malformed variants, per class (seeds: the valid examples, our samples, and the smallest message "
        "of every event)"
    )
    seeds += [(k, m) for k, m in own if not official(m)]
    from mhhs_ref.interfaces import example_message, spec_catalogue as _sc

    seeds += [
        (f"{cid} [{e}]", example_message(cid, e)) for cid, ch in _sc()['channels'].items() for e in ch['events']
    ]  # every event's edge
    totals = {}
    for cls, mutate in CLASSES.items():
        n = refused_official = we_accept = we_refuse_valid = 0
        for name, m in seeds:
            v = mutate(m)
            if v is None or v == m:
                continue
            n += 1
            o, u = official(v), mine(v)
            if o:
                refused_official += 1
                if u is None:
                    we_accept += 1
            elif u is not None:
                we_refuse_valid += 1
        totals[cls] = {
            'variants': n,
            'refused_by_spec': refused_official,
            'accepted_by_us_wrongly': we_accept,
            'refused_by_us_though_valid': we_refuse_valid,
        }
        print(
            f"  {cls:40} {n:4} variants; spec refuses {refused_official:4}; we accept of those {we_accept:3}; we "
            f"refuse spec-valid {we_refuse_valid:3}"
        )
    report['variants'] = totals
    print(
        f"  all classes: {sum(t['variants'] for t in totals.values())} variants, "
        f"{sum(t['refused_by_spec'] for t in totals.values())} refused by the "
        f"specification, {sum(t['accepted_by_us_wrongly'] for t in totals.values())} of those accepted by us"
    )
    print("\n== 4. codes")
    sys.path.insert(0, str(ROOT))
    from mhhs_ref.core import REJECTION_CODES
    from mhhs_ref.interfaces import spec_catalogue

    codes = spec_catalogue()['codes']
    used = {}
    for p in sorted((ROOT / 'mhhs_ref').rglob('*.py')):
        if p.name == '_modidx.py':
            continue
        for m in re.finditer(r"""['"]((?:MSG|RCP|REG|ECS|SP|DS|DSCA|REF)\d{3,4})\b""", p.read_text()):
            used.setdefault(m.group(1), set()).add(p.stem)
    off = sorted(c for c in used if c in codes)
    wrong = [c for c in off if REJECTION_CODES[c].meaning != codes[c]['meaning']]
    notdi = sorted(
        c
        for c in used
        if c not in codes
        and REJECTION_CODES.get(c)
        and REJECTION_CODES[c].family in {'MSG', 'RCP', 'REG', 'ECS', 'SP', 'DS'}
    )
    own_codes = sorted(c for c in used if c.startswith('REF'))
    print(
        f"  official DI-999 codes used: {len(off)} of {len(codes)}; with another meaning in our code file: "
        f"{len(wrong)} {wrong}"
    )
    print(f"  codes of an official family not in DI-999: {len(notdi)} {notdi}")
    print(
        f"  DES138 DSCA codes used: {len([c for c in used if c.startswith('DSCA')])}; own REF codes used: "
        f"{len(own_codes)}"
    )
    for c in own_codes:
        print(f"    {c}: {REJECTION_CODES[c].meaning} — {REJECTION_CODES[c].note}")
    report['codes'] = {'official_used': off, 'meaning_differs': wrong, 'not_in_di999': notdi, 'own': own_codes}
    if a.json:
        a.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
