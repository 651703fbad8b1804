"""The installed console script behaves as the README says."""
import csv, io, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent/'mhhs-ref'

def run(*args, **kw):
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, cwd=ROOT, timeout=120, **kw)

def test_help_lists_subcommands():
    r = run('--help')
    assert r.returncode == 0
    for cmd in ('trace', 'docs', 'register'): assert cmd in r.stdout

def test_version():
    from mhhs_ref import __version__
    r = run('--version')
    assert r.returncode == 0 and __version__ in r.stdout

def test_trace_csv_lists_every_register_item(tmp_path):
    from mhhs_ref.design import load_register
    out = tmp_path/'matrix.csv'
    r = run('trace', '--csv', str(out))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert {x['id'] for x in rows} == set(load_register().id)
    assert {'pages', 'symbols', 'tests', 'last_result'} <= set(rows[0])

def test_trace_to_stdout_and_summary():
    r = run('trace', '--csv', '-')
    assert r.returncode == 0 and r.stdout.startswith('id,kind,title')
    r = run('trace')
    assert r.returncode == 0 and 'business-process' in r.stdout

def test_bad_arguments_are_one_line_errors():
    r = run('register', '--kind', 'gizmo')
    assert r.returncode == 2 and 'unknown kind' in r.stderr and 'Traceback' not in r.stderr
    r = run('nosuchcommand')
    assert r.returncode != 0 and 'Traceback' not in r.stderr
