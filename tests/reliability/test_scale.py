"""A 100k-row feedback import: streamed, all or nothing, idempotent."""

from __future__ import annotations

import shutil

import pytest

from bffkit.bench.feedback import write_feedback_csv
from bffkit.feedback import FeedbackError, import_feedback
from bffkit.store import open_store

pytestmark = pytest.mark.slow


def test_100k_row_import_is_all_or_nothing_and_idempotent(stored_run, tmp_path):
    template, _ = stored_run
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    store = open_store(ws)
    before = len(store.feedback())
    images = store.table("generated_images")["id"].tolist()
    path = write_feedback_csv(tmp_path / "big.csv", images, 100_000)
    with path.open("a") as f:
        f.write(f"{images[0]},positive,9,,designer1,\n")  # the last of 100,001 rows is bad
    with pytest.raises(FeedbackError, match=r"big.csv row 100002: rating='9'"):
        import_feedback(store, path)
    assert len(store.feedback()) == before  # nothing of the 100,000 good rows was taken
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    report = import_feedback(store, path, progress=True)
    assert (report["rows"], report["stored"], len(report["users"])) == (100_000, 100_000, 50)
    assert len(store.feedback()) == before + 100_000
    assert import_feedback(store, path)["stored"] == 0  # a re-import adds nothing
