"""Every hostile input of the corpus: exit 2, one line naming what to fix, the workspace untouched."""

from __future__ import annotations

import pytest

from .corpus import CASES
from .harness import RAW_EXCEPTION, run_case, workspace_changes


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_stores_nothing(case, stored_run, tmp_path, capsys, monkeypatch):
    template, stored = stored_run
    code, out, err, before, after, expected = run_case(case, tmp_path, template, stored, capsys, monkeypatch)
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert not RAW_EXCEPTION.search(lines[0]), lines[0]
    assert expected in lines[0], lines[0]
    assert len(lines[0]) <= 400, lines[0]
    assert out == ""
    assert workspace_changes(before, after) == []
