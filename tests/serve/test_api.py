"""Every endpoint of `bffkit serve` on a tiny workspace, through FastAPI's TestClient; the
background run goes through the real worker process to `done`."""
from __future__ import annotations

import hashlib
import json
import time

import pytest
from fastapi.testclient import TestClient

from bffkit.coverage import boosts_from_gaps
from bffkit.serve.app import create_app
from bffkit.serve.settings import ServeSettings
from bffkit.store import open_store

from .conftest import add_dated_feedback, bearer, copy_with_users

GROUPS = ("generation", "clusters", "diversity", "coverage", "feedback", "analytics")


@pytest.fixture(scope="module")
def api(served_run, tmp_path_factory):
    """(client, workspace, run id, tokens): one server with its worker and learner for the module."""
    ws, run_id, tokens = copy_with_users(served_run, tmp_path_factory.mktemp("api"))
    with TestClient(create_app(ws)) as client:
        yield client, ws, run_id, tokens


def wait_for(check, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def test_health_needs_no_token_and_covers_each_group(api):
    client, *_ = api
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["store"]["ok"] and body["queue"]["worker_alive"]
    assert body["model"]["sketch-clip"] and body["backends"]["sketch"]
    for group in GROUPS:
        r = client.get(f"/api/{group}/health")
        assert r.status_code == 200 and r.json()["group"] == group, r.text
    assert client.get("/api/feedback/health").json()["learner_alive"]


def test_every_other_call_needs_a_valid_token(api):
    client, _, run_id, tokens = api
    for path in ("/api/generation/runs", f"/api/clusters/{run_id}/rounds/1", "/api/feedback/events",
                 "/api/analytics/trends"):
        r = client.get(path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
        assert client.get(path, headers=bearer(tokens["alice"] + "x")).status_code == 401
    assert "bffkit users add" in client.get("/api/generation/runs").json()["detail"]


def test_runs_images_and_content_addressed_files(api):
    client, ws, run_id, tokens = api
    h = bearer(tokens["alice"])
    runs = client.get("/api/generation/runs", headers=h).json()
    assert runs["items"][0]["id"] == run_id and runs["total"] >= 1
    status = client.get(f"/api/generation/runs/{run_id}", headers=h).json()
    assert status["status"] == "done" and status["progress"]["done"] == status["progress"]["planned"] == 7
    assert client.get("/api/generation/runs/nope", headers=h).status_code == 404
    every = client.get("/api/generation/images", params={"run_id": run_id, "limit": 500}, headers=h).json()
    chosen = client.get("/api/generation/images", params={"run_id": run_id, "selected": True}, headers=h).json()
    assert every["total"] == 16 and chosen["total"] == 8 and all(i["selected"] for i in chosen["items"])
    page = client.get("/api/generation/images", params={"run_id": run_id, "limit": 5, "offset": 15}, headers=h).json()
    assert len(page["items"]) == 1 and page["items"][0]["id"] == every["items"][-1]["id"]
    assert client.get("/api/generation/images", params={"limit": 501}, headers=h).status_code == 422
    image = chosen["items"][0]
    meta = client.get(f"/api/generation/images/{image['id']}", headers=h).json()
    assert meta["sha256"] == image["sha256"] and "path" not in meta
    r = client.get(image["file_url"], headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert hashlib.sha256(r.content).hexdigest() == image["sha256"] == r.headers["etag"].strip('"')
    assert "immutable" in r.headers["cache-control"]
    assert client.get(image["file_url"], headers={**h, "If-None-Match": r.headers["etag"]}).status_code == 304
    # nothing a client sends reaches the file system: ids are looked up in the store
    for bad in ("..%2F..%2Fbff.duckdb", "%2Fetc%2Fpasswd", "nope"):
        assert client.get(f"/api/generation/images/{bad}/file", headers=h).status_code in (404, 422), bad


def test_clusters_and_a_reclustering_stored_beside_the_first(api):
    client, ws, run_id, tokens = api
    h, researcher = bearer(tokens["alice"]), bearer(tokens["rob"])
    first = client.get(f"/api/clusters/{run_id}/rounds/1", headers=h).json()
    assert first["variant"] is None and first["k"] in (3, 4) and set(first["silhouette"]) == {"3", "4"}
    assert len(first["profiles"]) == first["k"] and sum(p["size"] for p in first["profiles"]) == 16
    part = client.get(f"/api/clusters/{run_id}/rounds/1/assignments", params={"limit": 5}, headers=h).json()
    assert part["total"] == 16 and len(part["items"]) == 5
    assert client.post(f"/api/clusters/{run_id}/rounds/1", json={"k_min": 3, "k_max": 5}, headers=h).status_code == 403
    r = client.post(f"/api/clusters/{run_id}/rounds/1", json={"k_min": 3, "k_max": 5}, headers=researcher)
    assert r.status_code == 201, r.text
    assert r.json()["variant"] == "k3-5" and set(r.json()["silhouette"]) == {"3", "4", "5"}
    again = client.get(f"/api/clusters/{run_id}/rounds/1", headers=h).json()
    assert (again["id"], again["k"], again["profiles"]) == (first["id"], first["k"], first["profiles"])
    assert [v["variant"] for v in again["variants"]] == ["k3-5"]
    variant = client.get(f"/api/clusters/{run_id}/rounds/1/assignments", params={"variant": "k3-5"}, headers=h)
    assert variant.json()["total"] == 16
    bad = client.post(f"/api/clusters/{run_id}/rounds/1", json={"k_min": 6, "k_max": 4}, headers=researcher)
    assert bad.status_code == 422 and "k_min=6 must be <= k_max=4" in bad.json()["message"]
    assert client.get(f"/api/clusters/{run_id}/rounds/2", headers=h).status_code == 404


def test_selection_variant_has_its_vendi_and_quality(api):
    client, ws, run_id, tokens = api
    h, researcher = bearer(tokens["alice"]), bearer(tokens["rob"])
    own = client.get(f"/api/diversity/{run_id}/rounds/1", headers=h).json()
    assert own["variant"] is None and own["theta"] == 0.7 and own["n_selected"] == 8 and own["vendi"] > 1
    r = client.post(f"/api/diversity/{run_id}/rounds/1", json={"theta": 0.2, "k": 5}, headers=researcher)
    assert r.status_code == 201, r.text
    variant = r.json()
    assert variant["variant"] == "t0.2-k5" and variant["n_selected"] == 5
    assert variant["vendi"] > 1 and 0 < variant["mean_quality"] <= 1
    after = client.get(f"/api/diversity/{run_id}/rounds/1", headers=h).json()
    assert after["selected_ids"] == own["selected_ids"] and [v["variant"] for v in after["variants"]] == ["t0.2-k5"]
    assert after["current"] and not after["variants"][0]["current"]  # a variant is current only once adopted
    # the round's own selection is still what "selected" means
    chosen = client.get("/api/generation/images", params={"run_id": run_id, "selected": True}, headers=h).json()
    assert {i["id"] for i in chosen["items"]} == set(own["selected_ids"])
    assert client.post(f"/api/diversity/{run_id}/rounds/1", json={"theta": 2}, headers=researcher).status_code == 422


def test_coverage_report_gaps_and_next_boosts(api):
    client, ws, run_id, tokens = api
    h = bearer(tokens["alice"])
    report = client.get(f"/api/coverage/{run_id}/rounds/1", headers=h).json()
    assert 0 <= report["score"] <= 1 and report["values"] and "gaps" in report
    gaps = client.get(f"/api/coverage/{run_id}/gaps", headers=h).json()
    open_ = client.get(f"/api/coverage/{run_id}/gaps", params={"status": "open"}, headers=h).json()
    assert gaps["total"] == len(report["gaps"]) == open_["total"] and sum(gaps["by_severity"].values()) == gaps["total"]
    boosts = client.get(f"/api/coverage/{run_id}/boosts", headers=h).json()
    assert boosts["after_round"] == 1 and boosts["boosts"] == (boosts_from_gaps(report["gaps"]) or {})
    assert client.get(f"/api/coverage/{run_id}/gaps", params={"severity": "huge"}, headers=h).status_code == 422


def _stored(client, token) -> dict:
    return client.get("/api/feedback/events", params={"limit": 500}, headers=bearer(token)).json()


def test_feedback_is_idempotent_and_each_user_sees_only_their_own(api):
    client, ws, run_id, tokens = api
    alice, bob = bearer(tokens["alice"]), bearer(tokens["bob"])
    image = client.get("/api/generation/images", params={"run_id": run_id, "selected": True}, headers=alice).json()
    image_id = image["items"][0]["id"]
    event = {"image_id": image_id, "feedback_type": "positive", "comment": "love the drape", "client_event_id": "c-1"}
    first = client.post("/api/feedback/events", json=event, headers=alice)
    assert first.status_code == 202, first.text
    again = client.post("/api/feedback/events", json=event, headers=alice)  # a retried request
    assert again.json()["ids"] == first.json()["ids"]
    event_id = first.json()["ids"][0]
    assert wait_for(lambda: _stored(client, tokens["alice"])["total"] == 1)
    # bob: the same client id is his own event; alice's stays as it was, and is not his to read
    bobs = client.post("/api/feedback/events", json={**event, "feedback_type": "negative", "comment": "no"}, headers=bob)
    assert bobs.json()["ids"] != [event_id]
    assert client.get(f"/api/feedback/events/{event_id}", headers=bob).status_code == 404
    assert wait_for(lambda: _stored(client, tokens["bob"])["total"] == 1)
    mine = client.get(f"/api/feedback/events/{event_id}", headers=alice).json()
    assert (mine["feedback_type"], mine["comment"]) == ("positive", "love the drape")
    assert [e["id"] for e in _stored(client, tokens["alice"])["items"]] == [event_id]
    # learning followed in the learner process: a liked, well-aligned image is alice's outlier
    outliers = wait_for(lambda: client.get("/api/feedback/outliers", headers=alice).json()["items"])
    assert outliers and {o["feedback_id"] for o in outliers} <= {event_id}
    assert client.get("/api/feedback/outliers", headers=bob).json()["total"] == 0


def test_batches_and_bad_events_are_field_errors(api):
    client, ws, run_id, tokens = api
    h = bearer(tokens["alice"])
    ids = [i["id"] for i in client.get("/api/generation/images", params={"run_id": run_id}, headers=h).json()["items"]]
    batch = {"events": [{"image_id": i, "feedback_type": "neutral", "rating": 3} for i in ids[:3]]}
    assert len(client.post("/api/feedback/events/batch", json=batch, headers=h).json()["ids"]) == 3
    r = client.post("/api/feedback/events", json={"image_id": "nope", "feedback_type": "positive"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"] == "image_id='nope': not a stored image"
    r = client.post("/api/feedback/events", json={"image_id": ids[0], "feedback_type": "meh"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "feedback_type"]
    assert r.json()["message"].startswith("feedback_type: Input should be 'positive', 'negative' or 'neutral'")
    r = client.post("/api/feedback/events", json={"image_id": ids[0], "feedback_type": "positive", "rating": 9},
                    headers=h)
    assert r.status_code == 422 and r.json()["message"].startswith("rating:")
    too_many = {"events": [{"image_id": ids[0], "feedback_type": "positive"}] * 501}
    assert client.post("/api/feedback/events/batch", json=too_many, headers=h).status_code == 422
    r = client.post("/api/feedback/events", content=b'{"image_id": "' + b"x" * 3_000_000 + b'"}',
                    headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413


def test_analytics_are_aggregates_and_mine_is_mine(api):
    client, ws, run_id, tokens = api
    h = bearer(tokens["bob"])
    assert wait_for(lambda: _stored(client, tokens["alice"])["total"] >= 1)
    for part in ("trends", "profiles", "attributes", "recommendations"):
        r = client.get(f"/api/analytics/{part}", params={"window_days": 30}, headers=h)
        assert r.status_code == 200, r.text
        text = r.text
        assert "alice" not in text and "c-1" not in text and "user_id" not in text and '"comment"' not in text
    everyone = client.get("/api/analytics/trends", headers=h).json()
    mine = client.get("/api/analytics/trends", params={"scope": "mine"}, headers=h).json()
    assert sum(r["feedback"] for r in everyone["per_day"]) > sum(r["feedback"] for r in mine["per_day"]) >= 1
    assert client.get("/api/analytics/trends", params={"window_days": 0}, headers=h).status_code == 422


def test_a_posted_run_goes_through_the_worker_to_done(api):
    client, ws, run_id, tokens = api
    body = {"config": "tiny", "overrides": {"rounds": 1, "seed": 7, "generate.target_count": 4,
                                            "feedback.source": "none"}}
    assert client.post("/api/generation/runs", json=body, headers=bearer(tokens["alice"])).status_code == 403
    r = client.post("/api/generation/runs", json=body, headers=bearer(tokens["rob"]))
    assert r.status_code == 202, r.text
    new = r.json()["run_id"]
    assert r.headers["location"] == f"/api/generation/runs/{new}" and r.json()["status"] == "queued"
    h = bearer(tokens["rob"])
    status = wait_for(lambda: (s := client.get(f"/api/generation/runs/{new}", headers=h).json())["status"]
                      in ("done", "failed") and s, timeout=180, every=0.5)
    assert status and status["status"] == "done", status
    assert status["job"]["user_id"] == "rob" and status["progress"]["done"] == status["progress"]["planned"] >= 6
    images = client.get("/api/generation/images", params={"run_id": new, "selected": True}, headers=h).json()
    assert images["total"] == 4
    assert open_store(ws).run(new)["user_id"] == "rob"  # the caller, whatever the config said


@pytest.mark.parametrize("body, status, says", [
    ({"config": "no-such"}, 404, "config 'no-such' not found; configs: demo, tiny"),
    ({"config": "tiny", "config_body": {"request": "x"}}, 422, "exactly one of config"),
    ({"config": "tiny", "overrides": {"select.theta": 7}}, 422, "select.theta"),
    ({"config": "tiny", "overrides": {"select.nope": 1}}, 422, "select.nope: not a config field"),
    ({"config_body": {"request": "dress", "prompts": {"taxonomy": "/etc/passwd"}}}, 422, "prompts.taxonomy"),
    ({"config": "tiny", "overrides": {"feedback.persona": "../../etc/x"}}, 422, "feedback.persona"),
    ({"config": "tiny", "overrides": {"embed.model": "local-dir:/tmp/m"}}, 422, "a file path"),
    ({"config": "../tiny"}, 422, "config"),
])
def test_a_run_request_that_cannot_run_is_one_line(api, body, status, says):
    client, ws, run_id, tokens = api
    r = client.post("/api/generation/runs", json=body, headers=bearer(tokens["rob"]))
    assert r.status_code == status, r.text
    detail = r.json().get("message") or r.json()["detail"]
    assert says in detail and "\n" not in detail


def test_only_an_admin_erases_a_user(api):
    client, ws, run_id, tokens = api
    assert client.delete("/api/feedback/users/bob", headers=bearer(tokens["rob"])).status_code == 403
    r = client.delete("/api/feedback/users/bob", headers=bearer(tokens["ada"]))
    assert r.status_code == 200 and r.json()["rows"]["user_feedback"] == 1 and r.json()["rows"]["api_users"] == 1
    assert client.get("/api/feedback/events", headers=bearer(tokens["bob"])).status_code == 401
    assert _stored(client, tokens["alice"])["total"] >= 1  # nobody else's


def test_review_page_signs_in_and_lists_the_selection(api):
    client, ws, run_id, tokens = api
    assert client.get("/review", follow_redirects=False).headers["location"].startswith("/review/")
    anonymous = TestClient(client.app)
    page = anonymous.get(f"/review/{run_id}")
    assert page.status_code == 401 and 'name="token"' in page.text
    refused = anonymous.post("/review/login", content=f"token=bff_wrong&next=/review/{run_id}",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 403 and "not known" in refused.text
    r = anonymous.post("/review/login", content=f"token={tokens['alice']}&next=//evil.example/x",
                       headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/review"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = anonymous.get(f"/review/{run_id}")
    assert page.status_code == 200 and page.text.count('class="card"') == 8 and "Round 1" in page.text
    assert "red mini dress with puff sleeves" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # every asset is this server's
    for asset in ("/static/review.js", "/static/review.css"):
        assert anonymous.get(asset).status_code == 200
    image_id = page.text.split('data-image="')[1].split('"')[0]
    event = {"image_id": image_id, "feedback_type": "positive", "source": "review"}
    # signed in by cookie, a write must carry the page's header (a cross-site form cannot)
    assert anonymous.post("/api/feedback/events", json=event).status_code == 403
    assert anonymous.post("/api/feedback/events", json=event, headers={"X-Bffkit-Review": "1"}).status_code == 202


def test_past_its_rate_limit_a_token_gets_429_with_retry_after(served_workspace):
    ws, run_id, tokens = served_workspace
    app = create_app(ws, ServeSettings(rate_limit="3/minute"), worker=False)
    with TestClient(app) as client:
        codes = [client.get("/api/generation/runs", headers=bearer(tokens["alice"])).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.get("/api/generation/runs", headers=bearer(tokens["alice"]))
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
        assert client.get("/api/generation/runs", headers=bearer(tokens["bob"])).status_code == 200  # per token
        assert client.get("/api/health").status_code == 200  # health is not limited


def test_cors_is_off_unless_origins_are_named(served_workspace):
    ws, *_ = served_workspace
    preflight = {"Origin": "http://studio.example", "Access-Control-Request-Method": "GET"}
    with TestClient(create_app(ws, worker=False)) as client:
        assert "access-control-allow-origin" not in client.options("/api/health", headers=preflight).headers
    settings = ServeSettings(cors_origins=["http://studio.example"])
    with TestClient(create_app(ws, settings, worker=False)) as client:
        r = client.options("/api/health", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "http://studio.example"


def test_retention_purges_feedback_older_than_it_at_start(served_workspace):
    ws, run_id, tokens = served_workspace
    store = open_store(ws)
    add_dated_feedback(store, ("alice", "positive", 40), ("alice", "negative", 0))
    with TestClient(create_app(ws, ServeSettings(retention_days=30), worker=False)):
        pass
    kept = store.feedback("alice")
    assert list(kept["feedback_type"]) == ["negative"]


def test_settings_are_checked_with_the_field_named(served_workspace, tmp_path):
    from bffkit.exceptions import ConfigError
    from bffkit.serve.settings import load_settings

    ws, *_ = served_workspace
    (ws / "serve.yaml").write_text("rate_limit: lots\nport: 8080\n")
    with pytest.raises(ConfigError, match=r"serve.yaml: rate_limit.*N per second, minute, hour or day"):
        load_settings(ws)
    (ws / "serve.yaml").write_text(json.dumps({"port": 8080, "retention_days": 7}))
    assert load_settings(ws, port=9000).model_dump()["port"] == 9000
    assert load_settings(ws).retention_days == 7
