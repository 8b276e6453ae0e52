from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from bffkit.bench.serve import add_users
from bffkit.cli import main
from bffkit.feedback import make_event
from bffkit.store import open_store

from ..conftest import TINY

USERS = {"alice": "reviewer", "bob": "reviewer", "rob": "researcher", "ada": "admin"}


@pytest.fixture(scope="session")
def served_run(tmp_path_factory):
    """(workspace, run id) of a finished one-round tiny run with no feedback yet: copied per use."""
    root = tmp_path_factory.mktemp("serve")
    data = yaml.safe_load(TINY.read_text())
    data.update(rounds=1, feedback={"source": "none"})
    config = root / "tiny1.yaml"
    config.write_text(yaml.safe_dump(data))
    ws = root / "ws"
    assert main(["run", "--no-notebooks", "--config", str(config), "--workspace", str(ws)]) == 0
    return ws, open_store(ws).latest_run_id()


def copy_with_users(served_run, folder):
    """A fresh copy of the served run's workspace with the four USERS: (workspace, run id, tokens)."""
    ws = folder / "ws"
    shutil.copytree(served_run[0], ws)
    store = open_store(ws)
    tokens = {}
    for role in ("reviewer", "researcher", "admin"):
        tokens.update(add_users(store, [n for n, r in USERS.items() if r == role], role))
    return ws, served_run[1], tokens


@pytest.fixture
def served_workspace(served_run, tmp_path):
    return copy_with_users(served_run, tmp_path)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def add_dated_feedback(store, *events: tuple[str, str, int]) -> None:
    """Store (user, feedback type, days ago) events on the first image, as if posted then."""
    image = store.table("generated_images")["id"].iloc[0]
    now = datetime.now(timezone.utc)
    store.add_feedback_events([make_event({"image_id": image, "feedback_type": kind,
                                           "created_at": (now - timedelta(days=days)).isoformat()},
                                          user_id=user).to_dict() for user, kind, days in events])
