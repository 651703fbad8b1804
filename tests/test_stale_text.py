"""Stale text: the register's reasons and the notebooks' prose say what is true now. A promise of later work
("in a later release", "arrives with a later issue", "routing pending", "until the LSS supplies ...") goes stale
the day the work lands, so it is refused here; say what exists and what is not built instead."""

import json, re
from pathlib import Path

import pytest

from mhhs_ref.design import load_register

ROOT = Path(__file__).resolve().parents[1]
PROMISES = re.compile(
    r'later (release|issue|version|step)s?'
    r'|\barrives? (later|with (a|the) (later|next|\w+ issue))'
    r'|\b(follows?|comes?) in (a )?(later|future|next)'
    r'|\bwill (arrive|follow|come) (later|with)'
    r'|\buntil [^.;]{0,80}\b(supplies|arrives?|lands?|is built|exists?)\b'
    r'|\b(routing|delivery|publication|support|work) (is |are )?pending\b|\bpending (work|issue|release)'
    r'|\bnext (release|issue)\b|\bin a future\b|\bnot yet(:| here\b| built\b| implemented\b)|\bTODO\b',
    re.I,
)


# Prose owned by another change that still promises later work; the lead removes an entry when its text is fixed.
KNOWN: set[tuple[str, str]] = set()


def stale(text: str, where: str = '') -> list[str]:
    "The phrases of `text` that promise later work."
    return [m.group(0) for m in PROMISES.finditer(text) if (where, m.group(0)) not in KNOWN]


def test_the_pattern():
    for bad in [
        'Publication arrives with the DIP issue',
        'follow in later releases',
        'routing and delivery are pending',
        'Until the LSS supplies shapes, use the typical day',
        'data services arrive with a later issue',
        'Not yet: REP-002A',
    ]:
        assert stale(bad), bad
    for ok in [
        'the Pending switch is Secured',
        'a pending IF-034 answer',
        'the market runs until nothing moves',
        'later reconnected',
        'the later of the two dates',
        'a call not yet recorded is made again',
    ]:
        assert not stale(ok), ok


def test_register_reasons_do_not_promise_later_work():
    reg = load_register()
    bad = {r.id: stale(r.reason + ' ' + r.statement) for r in reg.itertuples() if stale(r.reason + ' ' + r.statement)}
    assert not bad, bad


@pytest.mark.parametrize('nb', sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb')))
def test_notebook_prose_does_not_promise_later_work(nb):
    cells = json.loads((ROOT / 'nbs' / nb).read_text())['cells']
    bad = [
        (i, stale(''.join(c['source']), nb))
        for i, c in enumerate(cells)
        if c['cell_type'] == 'markdown' and stale(''.join(c['source']), nb)
    ]
    assert not bad, bad
