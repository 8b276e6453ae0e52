"""A bounded load test on 127.0.0.1: 20 concurrent clients × 50 feedback posts (and a retry of
some) against `bffkit serve` while a batch run writes the same workspace → every post stored once."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from bffkit.bench.serve import ServerProcess, add_users, drive, feedback_requests
from bffkit.store import open_store

from ..conftest import TINY

pytestmark = pytest.mark.slow
CLIENTS, POSTS, RETRIED = 20, 50, 10


def test_1000_posts_from_20_clients_during_a_batch_run_are_all_stored_once(served_workspace, tmp_path):
    ws, run_id, _ = served_workspace
    store = open_store(ws)
    tokens = add_users(store, [f"load{i}" for i in range(CLIENTS)])
    image_ids = store.review_images(run_id)
    image_ids = [i["id"] for i in image_ids]
    rng = np.random.default_rng(7)
    posts = [feedback_requests(image_ids, POSTS, rng, name) for name in tokens]
    sent = [p + p[:RETRIED] for p in posts]  # a client retrying posts it already made: same event ids
    config = tmp_path / "batch.yaml"
    config.write_text(yaml.safe_dump({**yaml.safe_load(TINY.read_text()), "name": "batch", "rounds": 1}))

    with ServerProcess(ws, {"rate_limit": "100000/minute"}) as server:
        batch = subprocess.Popen([sys.executable, "-m", "bffkit", "run", "--no-notebooks", "--config", str(config),
                                  "--workspace", str(ws)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        started = batch.stderr.readline()  # its run row is stored: it is writing now
        # 60 posts 0.1 s apart per client: the posts span the batch's stages, not its start-up
        results, wall = drive(server.url, list(tokens.values()), sent, pause=0.1)
        _, err = batch.communicate(timeout=300)
    assert batch.returncode == 0, started + err
    assert started.startswith("run batch-") and wall > 5, (started, wall)
    assert [s for _, s in results if s != 202] == []
    fb = store.feedback()
    ours = fb[fb["user_id"].isin(list(tokens))]
    assert len(ours) == CLIENTS * POSTS and ours["id"].is_unique
    assert ours.groupby("user_id").size().to_dict() == {name: POSTS for name in tokens}
    assert [r["status"] for r in store.runs(limit=10)[1] if r["name"] == "batch"] == ["done"]
