"""The installed console script behaves as the README says."""
import csv, io, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent/'mhhs-ref'

def run(*args, timeout=120, **kw):
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, **kw)

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


def test_simulate_is_the_main_job_and_never_leaves_half_outputs(tmp_path):
    """The README's main job: default arguments but --out, well under two minutes; never overwrites; Ctrl-C leaves nothing."""
    import signal, time
    out = tmp_path/'run1'
    t0 = time.perf_counter()
    r = run('simulate', '--out', str(out), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert time.perf_counter() - t0 < 120
    assert (out/'report.html').exists() and (out/'volumes.parquet').exists() and 'allocated mwh by run' in r.stdout
    again = run('simulate', '--out', str(out))
    assert again.returncode == 2 and 'exists and is not empty' in again.stderr and 'Traceback' not in again.stderr
    other = tmp_path/'run2'
    p = subprocess.Popen([str(EXE), 'simulate', '--out', str(other)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-2000:]
    assert not other.exists() and not any(x.name.startswith('.run2.partial') for x in tmp_path.iterdir())
