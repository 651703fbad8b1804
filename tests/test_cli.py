"""The installed console script behaves as the README says."""

import csv, io, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent / 'mhhs-ref'


def run(*args, timeout=120, cwd=ROOT, **kw):
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, **kw)


def test_help_lists_subcommands():
    r = run('--help')
    assert r.returncode == 0
    for cmd in ('trace', 'docs', 'register'):
        assert cmd in r.stdout


def test_version():
    from mhhs_ref import __version__

    r = run('--version')
    assert r.returncode == 0 and __version__ in r.stdout


def test_trace_csv_lists_every_register_item(tmp_path):
    from mhhs_ref.design import load_register

    out = tmp_path / 'matrix.csv'
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
    """The README's main job: default arguments but --out, well under two minutes; never overwrites; Ctrl-C leaves
    nothing."""
    import signal, time

    out = tmp_path / 'run1'
    t0 = time.perf_counter()
    r = run('simulate', '--out', str(out), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert time.perf_counter() - t0 < 120
    assert (out / 'report.html').exists() and (out / 'volumes.parquet').exists() and 'allocated mwh by run' in r.stdout
    assert f"report: {out / 'report.html'}" in r.stdout       # the run ends naming its report
    again = run('simulate', '--out', str(out))
    assert again.returncode == 2 and 'exists and is not empty' in again.stderr and 'Traceback' not in again.stderr
    _interrupted_run_leaves_nothing(tmp_path / 'run2', signal.SIGINT)


def test_bad_arguments_never_end_in_a_traceback_and_delete_nothing(tmp_path):
    "Each bad argument is one line with its code and exit status 2; nothing the command did not write is touched."
    afile = tmp_path / 'a-file.txt'
    afile.write_text('keep')
    theirs = tmp_path / 'theirs'
    theirs.mkdir()
    (theirs / 'precious.txt').write_text('keep')
    bad_utf8 = os.fsdecode(bytes(tmp_path) + b'/out-\xff')
    cases = [  # (arguments, what the one line must name)
        (['simulate', '--out', str(afile)], 'REF0403'),
        (['simulate', '--out', '/proc/mhhs-ref-out'], 'REF0403'),
        (['simulate', '--out', bad_utf8], 'REF0403'),
        (['simulate', '--out', str(tmp_path / 'x'), '--seed', '-1'], '--seed'),
        (['simulate', '--out', str(tmp_path / 'x'), '--from', '1990-01-01'], 'REF0002'),
        (['simulate', '--out', str(tmp_path / 'x'), '--from', 'yesterday'], 'REF0400'),
        (['simulate', '--out', str(theirs), '--force'], 'REF0401'),
        (['simulate', '--out', '.', '--force'], 'REF0401'),
        (['schemas', '--out', str(afile)], 'REF0403'),
        (['trace', '--csv', str(tmp_path / 'missing' / 'm.csv')], 'REF0403'),
        (['trace', '--results', str(afile)], 'REF0404'),
        (['sandbox', '--out', str(afile)], 'REF0403'),
        (['sandbox', '--out', str(theirs)], 'REF0401'),
        (['dip', 'serve', '--port', '70000'], '--port'),
        (['docs', '--out', str(theirs)], 'REF0401'),
    ]
    for args, want in cases:
        r = run(*args, timeout=180, **({'cwd': theirs} if '.' in args else {}))
        assert r.returncode == 2, (args, r.returncode, r.stderr[-800:])
        assert 'Traceback' not in r.stderr and want in r.stderr, (args, r.stderr[-800:])
    assert afile.read_text() == 'keep' and (theirs / 'precious.txt').read_text() == 'keep'
    assert sorted(p.name for p in theirs.iterdir()) == ['precious.txt']


def _interrupted_run_leaves_nothing(out, sig):
    "A simulation stopped by `sig` six seconds in exits 130 and leaves neither its folder nor a partial one."
    import time

    p = subprocess.Popen(
        [str(EXE), 'simulate', '--out', str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(6)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-2000:]
    assert not out.exists() and not any(x.name.startswith(f'.{out.name}.partial') for x in out.parent.iterdir())


def test_simulate_sigterm_leaves_nothing(tmp_path):
    import signal

    _interrupted_run_leaves_nothing(tmp_path / 'run3', signal.SIGTERM)


def test_simulate_force_replaces_only_its_own_output(tmp_path):
    out = tmp_path / 'run'
    r = run('simulate', '--out', str(out), '--mpans', '300', timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / '.mhhs-ref-output').read_text().strip() == 'simulate'
    r = run('simulate', '--out', str(out), '--mpans', '300', '--force', timeout=300)
    assert r.returncode == 0 and (out / 'report.html').exists(), r.stderr[-2000:]


def test_vectors_writes_a_new_folder_and_replaces_only_its_own(tmp_path):
    "`mhhs-ref vectors --out DIR`: written whole; again only with --force; never over a folder it did not write."
    out = tmp_path / 'vectors'
    r = run('vectors', '--out', str(out), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / '.mhhs-ref-output').read_text().strip() == 'vectors' and (out / 'manifest.json').is_file()
    again = run('vectors', '--out', str(out))
    assert again.returncode == 2 and 'REF0401' in again.stderr and '--force' in again.stderr
    assert run('vectors', '--out', str(out), '--force', timeout=300).returncode == 0
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'keep.txt').write_text('mine')
    r = run('vectors', '--out', str(mine), '--force')
    assert r.returncode == 2 and 'nothing was deleted' in r.stderr and (mine / 'keep.txt').read_text() == 'mine'
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]       # no half-written folder left
