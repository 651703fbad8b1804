"""Every notebook in nbs/ runs as a test through nbdev's own runner, so `#| eval: false` and `#| notest` hold."""

import os
from pathlib import Path

import pytest
import nbdev.test as nbtest

NBS = Path(__file__).resolve().parents[1] / 'nbs'
NOTEBOOKS = sorted(p.name for p in NBS.glob('*.ipynb'))


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_notebook(name, monkeypatch):
    monkeypatch.setenv('MHHS_TRACE_NB', name)
    ok, seconds = nbtest.test_nb(NBS / name, skip_flags=['notest'], showerr=True)
    assert ok, f"{name} failed (its traceback is above)"
