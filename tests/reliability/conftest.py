from __future__ import annotations

import shutil

import duckdb
import pytest

from bffkit.cli import main

from ..conftest import TINY


@pytest.fixture(scope="session")
def stored_run(tmp_path_factory):
    """(workspace, placeholder values) of a finished one-round tiny run: copied for each case."""
    ws = tmp_path_factory.mktemp("reliability") / "ws"
    assert main(["run", "--no-notebooks", "--config", str(TINY), "--workspace", str(ws)]) == 0
    shutil.rmtree(ws / "inbox", ignore_errors=True)
    con = duckdb.connect(str(ws / "bff.duckdb"), read_only=True)
    image_id, path = con.execute("SELECT id, path FROM generated_images ORDER BY id LIMIT 1").fetchone()
    feedback_id = con.execute("SELECT id FROM user_feedback WHERE feedback_type <> 'negative' ORDER BY id LIMIT 1").fetchone()[0]
    con.close()
    return ws, {"image_id": image_id, "image": path, "feedback_id": feedback_id}
