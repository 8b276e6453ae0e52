"""`bffkit users` and `bffkit purge --older-than`: a token is printed once and only its hash kept."""
from __future__ import annotations

import json

from bffkit.serve.auth import hash_token
from bffkit.store import open_store

from .conftest import add_dated_feedback


def test_users_add_token_list_remove(cli, workspace):
    code, token, err = cli("users", "add", "carol", "--role", "researcher", "--workspace", workspace)
    assert code == 0 and "shown once" in err
    token = token.strip()
    assert len(token) >= 32
    store = open_store(workspace)
    hashes = store.api_token_hashes()
    assert hashes == {hash_token(token): ("carol", "researcher")}
    with store.connect() as con:  # the clear token is nowhere in the store
        assert con.execute("SELECT count(*) FROM api_users WHERE token_hash = ?", [token]).fetchone()[0] == 0
    assert token not in (workspace / "bff.duckdb").read_bytes().decode("latin-1")

    code, _, err = cli("users", "add", "carol", "--workspace", workspace)
    assert (code, err.strip()) == (2, "error: user 'carol' exists; `bffkit users token carol` gives them a new token")
    code, _, err = cli("users", "add", "bad name!", "--workspace", workspace)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1

    code, new, _ = cli("users", "token", "carol", "--role", "admin", "--workspace", workspace)
    assert code == 0 and new.strip() != token
    assert store.api_token_hashes() == {hash_token(new.strip()): ("carol", "admin")}

    code, out, _ = cli("users", "list", "--json", "--workspace", workspace)
    rows = json.loads(out)
    assert [(r["name"], r["role"]) for r in rows] == [("carol", "admin")] and "token" not in out.lower()

    assert cli("users", "remove", "carol", "--workspace", workspace)[0] == 0
    assert store.api_token_hashes() == {}
    code, _, err = cli("users", "remove", "carol", "--workspace", workspace)
    assert (code, err.strip()) == (2, "error: no user 'carol'; `bffkit users list` shows who there is")


def test_purge_older_than_removes_only_old_feedback(cli, served_workspace):
    ws, _, _ = served_workspace
    store = open_store(ws)
    add_dated_feedback(store, ("alice", "positive", 10), ("bob", "negative", 0))
    code, out, _ = cli("purge", "--older-than", "7", "--workspace", ws, "--json")
    assert code == 0 and json.loads(out)["rows"]["user_feedback"] == 1
    assert list(store.feedback()["user_id"]) == ["bob"]
    code, _, err = cli("purge", "--older-than", "0", "--workspace", ws)
    assert code == 2 and "--older-than" in err
    code, _, err = cli("purge", "--user", "bob", "--older-than", "7", "--workspace", ws)
    assert code == 2 and "exactly one of --user U or --older-than DAYS" in err
