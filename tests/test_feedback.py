"""Stage 7: feedback events, the inbox under a concurrent writer, import/export, personas, the widget."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from bffkit.exceptions import ConfigError
from bffkit.feedback import (FeedbackError, Inbox, import_feedback, load_persona, make_event, read_feedback_file,
                             record_feedback)
from bffkit.store import open_store

from .conftest import ROOT, TINY


@pytest.fixture
def generated(cli, workspace):
    """A workspace with the tiny config's 32 images (no embedding)."""
    code, out, err = cli("generate", "--config", TINY, "--workspace", workspace, "--json")
    assert code == 0, err
    store = open_store(workspace)
    return store, store.table("generated_images")["id"].tolist()


def test_event_validation_names_the_row_and_field():
    e = make_event({"image_id": "a", "feedback_type": "👍", "rating": "4"}, user_id="u")
    assert (e.feedback_type, e.rating, e.user_id) == ("positive", 4, "u")
    cases = [({"image_id": "a", "feedback_type": "love"}, "row 3: feedback_type='love': must be one of positive"),
             ({"image_id": "a", "feedback_type": "positive", "rating": "9"}, "rating='9': must be an integer from 1 to 5"),
             ({"feedback_type": "positive"}, "image_id=None: required"),
             ({"image_id": "a", "feedback_type": "positive", "colour": "x"}, "colour='x': unknown field"),
             ({"image_id": "a", "feedback_type": "positive", "created_at": "yesterday"}, "created_at='yesterday'")]
    for row, message in cases:
        with pytest.raises(FeedbackError, match=message.replace("(", r"\(").replace(")", r"\)")):
            make_event(row, user_id="u", where="row 3")
    with pytest.raises(FeedbackError, match="user_id"):
        make_event({"image_id": "a", "feedback_type": "positive"})


def test_import_is_all_or_nothing_and_export_round_trips(generated, tmp_path, cli, workspace):
    store, ids = generated
    good = tmp_path / "fb.csv"
    good.write_text("image_id,feedback_type,rating,comment\n" + "\n".join(
        f"{i},{'positive' if k % 2 else 'negative'},{1 + k % 5},nice {k}" for k, i in enumerate(ids[:6])) + "\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text() + f"{ids[7]},meh,,\n")
    good.write_text(good.read_text() + f"{ids[8]},,,\n{ids[9]},, ,\n")  # the report's sheet, rows left unjudged
    code, _, err = cli("feedback", "import", bad, "--workspace", workspace, "--user", "ana")
    assert code == 2 and "bad.csv row 8: feedback_type='meh'" in err
    assert store.feedback().empty  # nothing half-imported
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps([{"image_id": ids[0], "feedback_type": "positive"},
                                   {"image_id": "nope", "feedback_type": "positive"}]))
    code, _, err = cli("feedback", "import", missing, "--workspace", workspace, "--user", "ana")
    assert code == 2 and "missing.json row 2: image_id='nope': no such image" in err
    assert store.feedback().empty
    code, out, _ = cli("feedback", "import", good, "--workspace", workspace, "--user", "ana", "--json")
    assert code == 0 and json.loads(out) == {"rows": 6, "stored": 6, "already_stored": 0, "users": ["ana"]}
    fb = store.feedback()
    assert len(fb) == 6 and set(fb["source"]) == {"import"} and fb["rating"].tolist() == [1, 2, 3, 4, 5, 1]
    # export, then import the export elsewhere: the same rows (ids kept, so a re-import adds nothing)
    out_file = tmp_path / "export.json"
    code, _, _ = cli("feedback", "export", "--workspace", workspace, "--out", out_file)
    assert code == 0
    rows = json.loads(out_file.read_text())
    assert [r["image_id"] for r in rows] == fb["image_id"].tolist()
    report = import_feedback(store, out_file)
    assert report == {"rows": 6, "stored": 0, "already_stored": 6, "users": []}
    code, csv_text, _ = cli("feedback", "export", "--workspace", workspace)
    assert csv_text.splitlines()[0].startswith("id,image_id,feedback_type") and len(csv_text.splitlines()) == 7


def test_bad_files_are_one_line(tmp_path):
    for name, text, message in [("x.json", "{", "not valid JSON"), ("x.txt", "a", "suffix '.txt' not supported"),
                                ("y.json", '{"a": 1}', "expected a list of objects")]:
        (tmp_path / name).write_text(text)
        with pytest.raises(FeedbackError, match=message):
            read_feedback_file(tmp_path / name)
    with pytest.raises(FeedbackError, match="not found"):
        read_feedback_file(tmp_path / "none.csv")


def test_inbox_merge_is_idempotent(generated, workspace):
    store, ids = generated
    inbox = Inbox(workspace)
    e = make_event({"image_id": ids[0], "feedback_type": "positive"}, user_id="u")
    inbox.put(e)
    (inbox.dir / "copy.json").write_text(json.dumps(e.to_dict()))  # the same event twice (crash before unlink)
    assert [x.id for x in inbox.merge(store)] == [e.id]
    assert inbox.pending() == [] and len(store.feedback()) == 1
    assert record_feedback(workspace, make_event({"image_id": ids[1], "feedback_type": "neutral"}, user_id="u"),
                           learn=False) == "stored"
    assert len(store.feedback()) == 2


@pytest.mark.slow
def test_500_events_from_one_process_while_another_writes_a_run(generated, workspace, tmp_path):
    """Real processes: a batch run holds the store while a 'notebook' sends 500 clicks; none is lost."""
    store, ids = generated
    clicker = tmp_path / "clicker.py"
    clicker.write_text(textwrap.dedent(f"""
        from bffkit.feedback import make_event, record_feedback
        ids = {ids!r}
        states = []
        for k in range(500):
            e = make_event({{"image_id": ids[k % len(ids)], "feedback_type": ("positive", "negative")[k % 2]}},
                           user_id="clicker", source="widget")
            states.append(record_feedback({str(workspace)!r}, e, wait=0.05, learn=False))
        print(states.count("stored"), states.count("queued"))
    """))
    config = tmp_path / "other.yaml"
    # one round of the notebook run (papermill kernels opening the store stage after stage)
    config.write_text(TINY.read_text().replace("seed: 1", "seed: 99").replace("name: tiny", "name: other")
                      .replace("rounds: 2", "rounds: 1"))
    writer = subprocess.Popen([sys.executable, "-m", "bffkit.cli", "run", "--config", str(config),
                               "--workspace", str(workspace)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    clicks = subprocess.run([sys.executable, str(clicker)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    _, werr = writer.communicate(timeout=300)
    assert clicks.returncode == 0, clicks.stderr
    assert writer.returncode == 0, werr
    stored, queued = map(int, clicks.stdout.split())
    assert stored + queued == 500
    Inbox(workspace).merge(store)  # whoever opens the store next merges what was queued
    fb = store.feedback("clicker")
    assert len(fb) == 500 and fb["id"].is_unique
    assert store.table_counts()["generated_images"] == 48  # and the run wrote everything it should


def test_personas_load_validate_and_judge(tmp_path):
    import numpy as np

    mini, maxi = load_persona(), load_persona("maximalist")
    assert mini.name == "minimalist" and maxi.name == "maximalist"
    rng = np.random.default_rng(0)
    solid = [mini.judge({"pattern": "solid", "sleeve_length": "long"}, None, rng)[0] for _ in range(200)]
    leopard = [mini.judge({"pattern": "animal print", "sleeve_length": "sleeveless"}, None, rng)[0] for _ in range(200)]
    assert solid.count("positive") > 150 and leopard.count("negative") > 150
    assert maxi.logit({"pattern": "floral"}) > maxi.logit({"pattern": "solid"})
    assert mini.logit({"pattern": "solid"}, "smudged") < mini.logit({"pattern": "solid"})
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\npreferences: {pattern: {plaid-ish: 1}}\n")
    with pytest.raises(ConfigError, match="preferences.pattern.plaid-ish: not a value of pattern; allowed: solid"):
        load_persona(bad)
    with pytest.raises(ConfigError, match="shipped personas: maximalist, minimalist"):
        load_persona(tmp_path / "none.yaml")


def test_widget_click_stores_at_once_and_acknowledges(generated, workspace):
    """The ipywidgets grid, driven without a browser through Button.click()."""
    from bffkit.widgets import FeedbackGrid

    store, ids = generated
    grid = FeedbackGrid(workspace, ids[:4], user_id="ana")
    assert len(grid.buttons) == 4 and len(grid.widget.children) == 4
    grid.comments[ids[1]].value = "love the sleeves"
    grid.buttons[ids[1]]["positive"].click()
    assert len(store.feedback("ana")) == 1  # written at once, not at the end
    grid.buttons[ids[2]]["negative"].click()
    fb = store.feedback("ana").set_index("image_id")
    assert fb.loc[ids[1], "feedback_type"] == "positive" and fb.loc[ids[1], "comment"] == "love the sleeves"
    assert fb.loc[ids[2], "feedback_type"] == "negative" and set(fb["source"]) == {"widget"}
    assert grid.status[ids[1]].value == "✓ positive stored"
    # a rating goes with the click; buttons say what they do in text too
    grid.ratings[ids[3]].value = 4
    grid.buttons[ids[3]]["neutral"].click()
    assert store.feedback("ana").set_index("image_id").loc[ids[3], "rating"] == 4
    assert [b.description for b in grid.buttons[ids[0]].values()] == ["👍 like", "👎 dislike", "– neutral"]
    # reopening shows what this person said, not what a simulated designer said for the same user
    from bffkit.feedback import make_event, record_feedback

    record_feedback(workspace, make_event({"image_id": ids[0], "feedback_type": "positive"}, user_id="ana",
                                          source="persona"), learn=False)
    again = FeedbackGrid(workspace, ids[:4], user_id="ana")
    assert again.status[ids[2]].value == "you said: negative" and again.status[ids[0]].value == ""
    assert grid.flush() is True and grid.flush() is None  # the pending refit, now; then nothing waits


def test_widget_learns_after_a_pause_off_the_click(generated, workspace, monkeypatch):
    """A click only stores; one refit follows a burst of clicks, on a timer thread."""
    import threading

    import bffkit.preferences as preferences
    from bffkit.widgets import FeedbackGrid

    store, ids = generated
    refits, done = [], threading.Event()

    def refit(store_, users, threshold=0.75):
        refits.append((threading.current_thread() is threading.main_thread(), list(users)))
        done.set()

    monkeypatch.setattr(preferences, "update_from_feedback", refit)
    grid = FeedbackGrid(workspace, ids[:4], user_id="ana", learn_after=0.2)
    for i in ids[:3]:
        grid.buttons[i]["positive"].click()
    assert refits == [] and len(store.feedback("ana")) == 3  # stored at once, nothing learned yet
    assert done.wait(10)
    assert refits == [(False, ["ana"])]  # one refit for the burst, not on the click's thread
