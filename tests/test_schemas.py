"""The committed JSON Schemas in schemas/ are exactly what the code generates (regenerate: mhhs-ref schemas)."""

from pathlib import Path

from mhhs_ref.design import verifies
from mhhs_ref.interfaces import export_schemas

ROOT = Path(__file__).resolve().parents[1]


@verifies('DIP-P006')
def test_schemas_in_step(tmp_path):
    fresh = {p.name: p.read_text() for p in export_schemas(tmp_path)}
    committed = {p.name: p.read_text() for p in (ROOT / 'schemas').glob('*.json')}
    assert set(fresh) == set(committed), sorted(set(fresh) ^ set(committed))
    stale = [n for n in fresh if fresh[n] != committed[n]]
    assert not stale, f"schemas/ is out of step with the catalogue for {stale}: run `mhhs-ref schemas`"
