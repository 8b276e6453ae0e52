from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
import time

import duckdb
import numpy as np
import pytest

from bffkit.exceptions import StoreError
from bffkit.prompts import build_specs
from bffkit.store import LATEST_VERSION, TABLES, VIEWS, Store, open_store

INJECTION = "'); DROP TABLE generated_images; --"


def test_new_store_has_every_seed_table_and_view(workspace):
    store = open_store(workspace)
    assert store.schema_version() == LATEST_VERSION
    with store.connect() as con:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert set(TABLES) | set(VIEWS) <= names
    assert (workspace / "images").is_dir()


def test_migrations_are_idempotent(workspace):
    store = open_store(workspace)
    assert store.migrate() == []
    assert open_store(workspace).migrate() == []
    with store.connect() as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
    assert versions == list(range(1, LATEST_VERSION + 1))


def test_old_version_store_upgrades_without_data_loss(workspace):
    workspace.mkdir()
    old = Store(workspace)
    assert old.migrate(target=1) == [1]
    # rows written by a version-1 bffkit
    with old.transaction() as con:
        con.execute("INSERT INTO generation_jobs (id, batch_id, user_id, status, n_planned) VALUES (?, ?, ?, ?, ?)",
                    ["job1", "batch-7", "ana", "done", 3])
        con.execute("INSERT INTO generated_images (id, job_id, user_id, prompt, vlt_attributes, sha256, path) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", ["img1", "job1", "ana", "red dress", '{"category": "dress"}',
                                                    "abc", "images/ab/abc.png"])
        con.execute("INSERT INTO user_feedback (id, user_id, image_id, feedback_type, rating) VALUES (?, ?, ?, ?, ?)",
                    ["fb1", "ana", "img1", "positive", 5])
        con.execute("INSERT INTO outliers (id, image_id, feedback_id, confidence) VALUES (?, ?, ?, ?)",
                    ["o1", "img1", "fb1", 0.9])
        con.execute("INSERT INTO vlt_attributes (id, name, category, value_list) VALUES (?, ?, ?, ?)",
                    [1, "neckline", "neckline", '["v-neck"]'])
    store = open_store(workspace)  # upgrades
    assert store.schema_version() == LATEST_VERSION
    jobs = store.table("generation_jobs")
    assert jobs.loc[0, "run_id"] == "batch-7"  # backfilled from the seed's batch id
    assert jobs.loc[0, "n_planned"] == 3
    img = store.table("generated_images").iloc[0]
    assert (img["prompt"], img["vlt_attributes"]) == ("red dress", {"category": "dress"})
    assert store.table("user_feedback").loc[0, "rating"] == 5
    assert store.table("outliers").loc[0, "user_id"] == "ana"  # backfilled from its feedback row
    attrs = store.table("vlt_attributes")
    assert attrs.loc[0, "group_name"] == "neckline"


def test_store_newer_than_the_code_is_refused(workspace):
    store = open_store(workspace)
    with store.transaction() as con:
        con.execute("INSERT INTO schema_version (version, note) VALUES (?, ?)", [LATEST_VERSION + 1, "future"])
    with pytest.raises(StoreError, match=f"schema version {LATEST_VERSION + 1}, newer than this bffkit"):
        open_store(workspace)


def test_sql_injection_text_is_stored_verbatim_and_every_table_survives(workspace, tax):
    store = open_store(workspace)
    specs = build_specs(f"red dress {INJECTION}", 3, seed=0, taxonomy=tax)
    assert all("drop table generated images" in s.prompt for s in specs)  # kept as free text
    specs[0] = dataclasses.replace(specs[0], prompt=f"red dress {INJECTION}")
    store.save_prompt_job(job_id=INJECTION, run_id=INJECTION, round=1, user_id=INJECTION, backend="sketch",
                          model=None, request=INJECTION, specs=specs)
    store.add_generated_image(image_id=INJECTION, job_id=INJECTION, user_id=INJECTION, prompt=INJECTION,
                              vlt_attributes={"category": INJECTION})
    store.add_feedback(user_id=INJECTION, image_id=INJECTION, feedback_type="positive", comment=INJECTION)
    assert set(store.table_counts()) == set(TABLES)
    assert store.jobs().loc[0, "request"] == INJECTION
    assert store.jobs().loc[0, "user_id"] == INJECTION
    assert store.table("generated_images").loc[0, "prompt"] == INJECTION
    assert store.table("user_feedback").loc[0, "comment"] == INJECTION
    assert store.prompt_specs(INJECTION)[0]["prompt"] == f"red dress {INJECTION}"
    report = store.purge_user(INJECTION)
    assert report.rows["generated_images"] == 1
    assert set(store.table_counts()) == set(TABLES)


def test_prompt_jobs_are_atomic_and_not_planned_twice(workspace, tax):
    store = open_store(workspace)
    specs = build_specs("blue shirt", 5, seed=0, taxonomy=tax)
    assert store.save_prompt_job(job_id="j", run_id="r", round=1, user_id="u", backend="sketch", model=None,
                                 request="blue shirt", specs=specs)
    other = build_specs("green coat", 7, seed=1, taxonomy=tax)
    assert not store.save_prompt_job(job_id="j", run_id="r", round=1, user_id="u", backend="sketch",
                                     model=None, request="green coat", specs=other)
    stored = store.prompt_specs("j")
    assert [s["attributes"] for s in stored] == [s.attributes for s in specs]
    assert [s["seed"] for s in stored] == [s.seed for s in specs]
    # a failure inside the transaction leaves neither the job nor any spec behind
    broken = list(specs) + [specs[0]]  # duplicate spec index violates the primary key
    with pytest.raises(duckdb.ConstraintException):
        store.save_prompt_job(job_id="j2", run_id="r", round=2, user_id="u", backend="sketch", model=None,
                              request="blue shirt", specs=broken)
    assert "j2" not in set(store.jobs()["id"])
    assert store.prompt_specs("j2") == []


def _image(store: Store, user: str, image_id: str, content: bytes) -> str:
    sha = hashlib.sha256(content).hexdigest()
    rel = f"images/{sha[:2]}/{sha}.png"
    path = store.workspace / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    store.add_generated_image(image_id=image_id, job_id=f"job-{user}", user_id=user, sha256=sha, path=rel)
    return rel


def test_purge_removes_one_users_rows_and_files_and_nothing_else(workspace, tax):
    store = open_store(workspace)
    for user in ("ana", "ben"):
        store.save_prompt_job(job_id=f"job-{user}", run_id=f"run-{user}", round=1, user_id=user,
                              backend="sketch", model=None, request="dress",
                              specs=build_specs("dress", 2, taxonomy=tax))
        store.upsert_run(f"run-{user}", "r", user, {})
    only_ana = _image(store, "ana", "a1", b"ana's own image")
    shared_a = _image(store, "ana", "a2", b"same pixels")
    shared_b = _image(store, "ben", "b1", b"same pixels")
    ben_only = _image(store, "ben", "b2", b"ben's image")
    store.add_feedback(user_id="ana", image_id="a1", feedback_type="positive")
    store.add_feedback(user_id="ben", image_id="a1", feedback_type="negative")
    before = store.table_counts()

    report = store.purge_user("ana")

    assert report.rows["generated_images"] == 2
    assert report.rows["user_feedback"] == 1
    assert report.rows["prompt_specs"] == 2
    assert report.files == 1
    assert not (workspace / only_ana).exists()
    assert shared_a == shared_b and (workspace / shared_b).exists()  # ben still uses those bytes
    assert (workspace / ben_only).exists()
    after = store.table_counts()
    assert after["generated_images"] == before["generated_images"] - 2
    for table in ("generated_images", "generation_jobs", "user_feedback", "runs"):
        assert set(store.table(table)["user_id"]) == {"ben"}, table
    assert store.purge_user("ana").total_rows == 0  # idempotent


def test_feedback_values_are_checked(workspace):
    store = open_store(workspace)
    with pytest.raises(StoreError, match="feedback_type='love': must be one of positive, negative, neutral"):
        store.add_feedback(user_id="u", image_id="i", feedback_type="love")
    with pytest.raises(StoreError, match=r"rating=9: must be an integer in \[1, 5\]"):
        store.add_feedback(user_id="u", image_id="i", feedback_type="positive", rating=9)
    assert store.table_counts()["user_feedback"] == 0


def test_unknown_table_is_refused(workspace):
    with pytest.raises(StoreError, match="unknown table 'users; --'"):
        open_store(workspace).table("users; --")


def test_not_a_database_file(workspace):
    workspace.mkdir()
    (workspace / "bff.duckdb").write_text("this is not a database")
    with pytest.raises(StoreError, match="truncated or corrupt; restore it from a backup"):
        open_store(workspace)


@pytest.mark.slow
def test_a_locked_store_is_waited_for_then_reported(workspace):
    store = open_store(workspace)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(2.5)",
         str(store.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        impatient = Store(workspace, lock_timeout=0.3)
        with pytest.raises(StoreError, match="locked by another process"):
            with impatient.connect():
                pass
        t0 = time.monotonic()
        patient = Store(workspace, lock_timeout=20)
        assert patient.schema_version() == LATEST_VERSION  # waits for the holder to exit
        assert time.monotonic() - t0 < 15
    finally:
        holder.kill()
        holder.wait()


def test_readers_return_decoded_values_and_ids_come_from_one_place(workspace, tax):
    from bffkit.store import ids

    store = open_store(workspace)
    specs = build_specs("red dress", 2, seed=0, taxonomy=tax)
    job = ids.job_id_for("run", 1)
    store.save_prompt_job(job_id=job, run_id="run", round=1, user_id="u", backend="sketch", model=None,
                          request="red dress", specs=specs)
    store.save_images(job, "u", [{"spec_index": 0, "data": b"png-bytes", "prompt": "p", "vlt_attributes": {"a": "b"},
                                  "metadata": {"defect": None}, "params": {"width": 8}}])
    row = store.job_images(job).iloc[0]
    assert row["id"] == ids.image_id_for(job, 0)
    assert (row["vlt_attributes"], row["metadata"], row["params"]) == ({"a": "b"}, {"defect": None}, {"width": 8})
    assert store.prompt_specs(job)[0]["attributes"] == specs[0].attributes
    result_id = store.save_clustering(job_id=job, round=1, k=1, metrics={"silhouette": {"1": 0.5}},
                                      image_ids=[row["id"]], labels=[0], distances=[0.0],
                                      profiles=[{"cluster_id": 0, "name": "red", "size": 1, "medoid_image_id": row["id"],
                                                 "attributes": [{"value": "red"}]}])
    assert result_id == ids.clustering_id(job)
    assert store.clustering(job)["metrics"] == {"silhouette": {"1": 0.5}}
    assert store.style_profiles(job)[0]["attributes"] == [{"value": "red"}]
    store.save_selection(job_id=job, round=1, theta=0.7, k=1, selected_ids=[row["id"]], log_det=0.0, vendi=1.0,
                         mean_quality=0.9, metrics={"n_excluded": 0})
    assert store.selection(job)["selected_ids"] == [row["id"]] and store.selection(job)["metrics"] == {"n_excluded": 0}
    assert store.selected_indices(job, ["other", row["id"]]).tolist() == [1]
    # every JSON column of every table comes back as Python objects, never as a JSON string
    with store.connect() as con:
        json_columns = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                   "WHERE data_type = 'JSON'").fetchall()
    for table, column in json_columns:
        if table in TABLES:
            assert not any(isinstance(v, str) for v in store.table(table)[column]), (table, column)
    with pytest.raises(StoreError, match="no coverage report"):
        store.coverage_report(job)


def test_version_7_store_gains_the_near_miss_slope_and_duplicate_columns(workspace):
    workspace.mkdir()
    old = Store(workspace)
    assert old.migrate(target=7) == list(range(1, 8))
    with old.transaction() as con:  # rows as a version-7 bffkit wrote them
        con.execute("INSERT INTO model_calibration (model, a, b, n_pairs, match_auc, near_miss_cos, near_miss_auc) "
                    "VALUES ('m', 30, -10, 800, 0.99, 0.5, 0.9)")
        con.execute("INSERT INTO image_tags (image_id, model, detected, quality) VALUES ('i1', 'm', '{}', 0.99)")
    store = open_store(workspace)
    assert store.schema_version() == LATEST_VERSION
    row = store.get_calibration("m")
    assert row["near_miss_cos"] == 0.5 and row["near_miss_a"] is None  # incomplete: refitted on next use
    assert store.image_tags("m", ["i1"])["duplicate_of"].isna().all()
    store.save_image_tags("m", [{"image_id": "i2", "detected": {}, "quality": 0.5, "duplicate_of": "i1"}])
    assert store.image_tags("m", ["i2"]).iloc[0]["duplicate_of"] == "i1"
    store.save_clustering(job_id="j", round=1, k=1, metrics={}, image_ids=["i1", "i2"], labels=np.zeros(2),
                          distances=np.zeros(2), profiles=[], duplicate_of=[None, "i1"])
    assert store.near_duplicates("j") == {"i2": "i1"}


def test_version_8_store_gains_adoptions_and_keeps_its_results_current(workspace):
    workspace.mkdir()
    old = Store(workspace)
    assert old.migrate(target=8) == list(range(1, 9))
    old.save_selection(job_id="j", round=1, theta=0.7, k=1, selected_ids=["a"], log_det=0.0, vendi=1.0,
                       mean_quality=0.9, metrics={})
    old.save_selection(job_id="j", round=1, theta=0.2, k=1, selected_ids=["b"], log_det=0.0, vendi=1.0,
                       mean_quality=0.8, metrics={}, variant="t0.2")
    store = open_store(workspace)
    assert store.schema_version() == LATEST_VERSION >= 9
    assert store.selection("j")["selected_ids"] == ["a"]  # no adoption: the stage's own
    store.adopt("j", "select", "t0.2", adopted_by="ana")
    assert store.selection("j")["selected_ids"] == ["b"] and store.selection("j", "t0.2")["theta"] == 0.2
    with pytest.raises(StoreError, match="variant='t9': no such select result of job 'j'; stored: own, t0.2"):
        store.adopt("j", "select", "t9")
    with pytest.raises(ValueError, match="stage='coverage'"):
        store.adopt("j", "coverage", "t0.2")
    store.adopt("j", "select", None)
    assert store.selection("j")["selected_ids"] == ["a"]
    assert [(a["n"], a["variant"], a["adopted_by"]) for a in store.adoptions("j")] == [(1, "t0.2", "ana"),
                                                                                        (2, None, None)]
