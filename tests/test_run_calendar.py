"""The settlement run calendar: every offset is either sourced or a named assumption, the calendar prints which,
and a start date for the new timetable is honoured by `run_schedule` and `runs_due` (nbs/01_time.ipynb)."""

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from mhhs_ref.core import MhhsError
from mhhs_ref.design import verifies
from mhhs_ref.time import (
    NEW_TIMETABLE_FROM,
    RUN_ASSUMPTIONS,
    RUN_OFFSETS_WD,
    RUN_SOURCES,
    RUN_TIMETABLE,
    RunTimetable,
    add_working_days,
    run_calendar_notes,
    run_schedule,
    runs_due,
    working_days_between,
)

RUNS = ('II', 'SF', 'R1', 'R2', 'R3', 'RF', 'DF')


def test_every_offset_is_sourced_or_a_named_assumption():
    with verifies('REF-RUN-CALENDAR', 'ASM-RUN-OFFSETS'):
        assert set(RUN_OFFSETS_WD) == set(RUNS)
        assert set(RUN_SOURCES) | set(RUN_ASSUMPTIONS) == set(RUNS)
        assert not set(RUN_SOURCES) & set(RUN_ASSUMPTIONS)
        assert RUN_TIMETABLE.new_from is NEW_TIMETABLE_FROM is None  # not published where we looked


def test_the_calendar_prints_each_figure_with_its_basis():
    with verifies('REF-RUN-CALENDAR', 'ASM-RUN-OFFSETS'):
        notes = run_calendar_notes()
        lines = {ln.split()[0]: ln for ln in notes.splitlines()[1:] if ln.split()[0] in RUNS + ('DR',)}
        assert set(lines) == set(RUNS) | {'DR'}
        for r in RUNS:
            assert f"{RUN_OFFSETS_WD[r]} WD" in lines[r]
            if r in RUN_ASSUMPTIONS:
                assert f"assumption: {RUN_ASSUMPTIONS[r]}" in lines[r], lines[r]
            else:
                assert 'assumption' not in lines[r] and RUN_SOURCES[r] in lines[r], lines[r]
        assert 'assumption: NEW_TIMETABLE_FROM' in notes
        assert 'R2' not in run_calendar_notes(transition=False)
        assert str(RUN_TIMETABLE) == notes


def test_sourced_figures():
    "RF about four months after the day (Elexon); II four working days (the DWG TOM)."
    with verifies('REF-RUN-CALENDAR', 'ASM-RUN-OFFSETS'):
        s = run_schedule('2026-04-15').set_index('run').run_date
        assert 3.5 <= (s['RF'] - dt.date(2026, 4, 15)).days / 30.44 <= 4.6
        assert working_days_between('2026-04-15', s['II']) == RUN_OFFSETS_WD['II'] == 4
        assert list(s.index) == ['II', 'SF', 'R1', 'RF', 'DF']  # in time order, which is also precedence order


def test_existing_call_forms_still_work():
    with verifies('REF-RUN-CALENDAR'):
        custom = run_schedule('2025-01-06', offsets={'II': 1, 'SF': 2})
        assert list(custom.run_date.astype(str)) == ['2025-01-07', '2025-01-08']
        assert list(run_schedule('2025-10-26', transition=True).run) == list(RUNS)
        pd.testing.assert_frame_equal(
            run_schedule('2026-03-02', RUN_TIMETABLE), run_schedule('2026-03-02', dict(RUN_OFFSETS_WD))
        )
        assert "assumption: offsets['II']" in run_calendar_notes({'II': 1})


def test_a_start_date_refuses_earlier_days_and_runs_due_skips_them():
    with verifies('REF-RUN-CALENDAR', 'ASM-RUN-OFFSETS'):
        tt = dataclasses.replace(RUN_TIMETABLE, new_from=dt.date(2026, 3, 2))
        assert isinstance(tt, RunTimetable) and RUN_TIMETABLE.new_from is None
        with pytest.raises(dataclasses.FrozenInstanceError):
            tt.new_from = None
        assert 'from settlement date 2026-03-02' in run_calendar_notes(tt)
        with pytest.raises(MhhsError, match='REF0002'):
            run_schedule(['2026-02-27', '2026-03-02'], tt)
        assert len(run_schedule('2026-03-02', tt, transition=True)) == len(RUNS)
        day_ii = add_working_days('2026-03-02', RUN_OFFSETS_WD['II'])
        due = runs_due(day_ii, tt)
        assert (due.settlement_date >= dt.date(2026, 3, 2)).all()
        assert ((due.settlement_date == dt.date(2026, 3, 2)) & (due.run == 'II')).any()
        assert len(runs_due(day_ii)) >= len(due)  # without a start date, earlier days are due too
        assert runs_due('2026-03-02', tt).empty
