"""The real OpenAI SDK against a fake OpenAI-compatible server on 127.0.0.1."""
from __future__ import annotations

import json

import pytest
import yaml

from bffkit.enhance import enhance_specs, keeps_attributes
from bffkit.exceptions import ConfigError
from bffkit.generate import get_generator
from bffkit.stages.generate import run_generation
from bffkit.prompts import build_specs
from bffkit.store import open_store

from ..conftest import TINY
from ..fake_openai import FakeOpenAI

KEY = "sk-test-0123456789-never-stored"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI() as srv:
        yield srv


def specs_for(tax, markers):
    """One spec per marker; the marker rides along as free text into the prompt."""
    out = []
    for i, marker in enumerate(markers):
        spec = build_specs(f"red dress {marker}".strip(), 1, seed=i, taxonomy=tax, backend="openai")[0]
        out.append(type(spec)(**{**spec.__dict__, "index": i}))
    return out


def plan(store, specs):
    store.save_prompt_job(job_id="job", run_id="run", round=1, user_id="u", backend="openai", model="gpt-image-1",
                          request="red dress", specs=specs)
    return "job"


def generator(server, **kw):
    opts = {"model": "gpt-image-1", "base_url": server.base_url, "concurrency": 3, "max_retries": 0,
            "rate_limit_retries": 2, "timeout_s": 10}
    return get_generator("openai", **{**opts, **kw})


def test_success_stores_images_and_usage_and_never_the_key(server, workspace, tax):
    store = open_store(workspace)
    job = plan(store, specs_for(tax, ["", "", ""]))
    result = run_generation(store, job, generator(server), progress=False)
    assert (result.status, result.n_done) == ("done", 3)
    rows = store.job_images(job)
    meta = rows.iloc[0]["metadata"]
    assert meta["usage"]["total_tokens"] == 4210 and meta["model"] == "gpt-image-1"
    assert set(rows["model"]) == {"gpt-image-1"}
    assert server.auth_headers == {f"Bearer {KEY}"}
    body = server.requests[0]["body"]
    assert body["model"] == "gpt-image-1" and body["n"] == 1 and body["size"] == "1024x1536"  # portrait dress
    assert body["quality"] == "high" and "Avoid: blurry" in body["prompt"] and "response_format" not in body
    assert KEY.encode() not in store.path.read_bytes()


def test_dalle_asks_for_base64(server, workspace, tax):
    store = open_store(workspace)
    job = plan(store, specs_for(tax, [""]))
    assert run_generation(store, job, generator(server, model="dall-e-3"), progress=False).status == "done"
    assert server.requests[0]["body"]["response_format"] == "b64_json"


@pytest.mark.parametrize("sdk_retries", [2, 0], ids=["sdk-retries", "our-backoff"])
def test_rate_limit_then_success(server, workspace, tax, sdk_retries):
    store = open_store(workspace)
    job = plan(store, specs_for(tax, ["zzflaky"]))
    result = run_generation(store, job, generator(server, max_retries=sdk_retries), progress=False)
    assert (result.status, result.n_done) == ("done", 1)
    assert sum(server.counts.values()) == 2  # one 429, one success
    attempts = store.job_images(job).iloc[0]["metadata"]["attempts"]
    assert attempts == (1 if sdk_retries else 2)


def test_content_policy_refusal_fails_that_spec_and_the_job_goes_on(server, workspace, tax):
    store = open_store(workspace)
    job = plan(store, specs_for(tax, ["", "zzrefuse", "", "zzgarbage"]))
    result = run_generation(store, job, generator(server), progress=False)
    assert (result.status, result.n_done, result.n_failed) == ("done", 2, 2)
    rows = store.job_images(job).set_index("spec_index")
    assert rows.loc[1, "status"] == "failed"
    assert rows.loc[1, "error"] == "refused: Your request was rejected by the safety system. (content_policy_violation)"
    assert rows.loc[3, "error"] == "undecodable image: UnidentifiedImageError"
    assert rows.loc[1, "path"] is None or rows.loc[1, "path"] != rows.loc[1, "path"]  # no file for a refusal


def test_persistent_server_errors_end_partial_and_resume(server, workspace, tax):
    store = open_store(workspace)
    job = plan(store, specs_for(tax, ["", "zzdown", "zzdown", ""]))
    first = run_generation(store, job, generator(server, max_retries=1), progress=False)
    assert (first.status, first.n_done) == ("partial", 2)
    assert first.last_error.startswith("server error 500")
    assert store.job(job)["status"] == "partial"
    server.down = False
    second = run_generation(store, job, generator(server), progress=False)
    assert (second.status, second.n_done, second.n_new) == ("done", 4, 2)
    assert store.job_images(job)["spec_index"].is_unique


def test_missing_key_fails_before_any_work(cli, tmp_path, workspace, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        get_generator("openai")
    cfg = yaml.safe_load(TINY.read_text())
    cfg["generate"]["backend"] = "openai"
    path = tmp_path / "openai.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = cli("run", "--no-notebooks", "--config", path, "--workspace", workspace)
    assert (code, out) == (2, "")
    assert err == "error: OPENAI_API_KEY is not set: the openai backend reads its key from the environment only\n"
    assert not workspace.exists()


def test_rejected_key_stops_the_job(server, workspace, tax):
    store = open_store(workspace)
    job = plan(store, specs_for(tax, ["", ""]))
    server.reject_key = True
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY was rejected \(401\): Incorrect API key provided"):
        run_generation(store, job, generator(server), progress=False)
    assert store.job(job)["status"] == "partial"
    assert len(store.job_images(job)) == 0


def test_main_job_with_the_openai_backend(server, cli, tmp_path, workspace):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["rounds"] = 1
    cfg["generate"].update(backend="openai", openai={"base_url": server.base_url, "max_retries": 0})
    path = tmp_path / "openai.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = cli("run", "--no-notebooks", "--config", path, "--workspace", workspace, "--json")
    assert code == 0, err
    assert json.loads(out)["rounds"][0]["generation"]["n_done"] == 16


# ----------------------------------------------------------------------------- enhancer

def test_enhancer_rewrites_and_keeps_attributes(server, tax):
    specs = build_specs("sleeveless red midi dress", 3, seed=1, taxonomy=tax)
    out, report = enhance_specs(specs, tax, model="gpt-4o-mini", base_url=server.base_url)
    assert report.rewritten == 3 and report.kept_original == 0
    assert all(o.prompt.startswith("A refined runway look:") for o in out)
    assert all(o.attributes == s.attributes for o, s in zip(out, specs))
    chat = [r for r in server.requests if r["path"].endswith("/chat/completions")][0]["body"]
    assert chat["model"] == "gpt-4o-mini" and chat["messages"][0]["role"] == "system"


def test_enhancer_keeps_the_rule_prompt_when_the_rewrite_drops_attributes(server, tax):
    specs = build_specs("sleeveless red midi dress", 2, seed=1, taxonomy=tax)
    server.chat_reply = "a cosy blue sweater"
    out, report = enhance_specs(specs, tax, model="gpt-4o-mini", base_url=server.base_url)
    assert report.rewritten == 0 and report.kept_original == 2
    assert [o.prompt for o in out] == [s.prompt for s in specs]
    assert not keeps_attributes("a red midi dress with long sleeves", specs[0], tax)  # contradicts sleeveless


def test_enhancer_in_the_main_job(server, cli, tmp_path, workspace):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["rounds"] = 1
    cfg["prompts"] = {"enhancer": "openai"}
    cfg["generate"]["openai"] = {"base_url": server.base_url}
    path = tmp_path / "enhanced.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = cli("run", "--no-notebooks", "--config", path, "--workspace", workspace, "--json")
    assert code == 0, err
    store = open_store(workspace)
    prompts = [s["prompt"] for s in store.prompt_specs(json.loads(out)["rounds"][0]["job_id"])]
    assert all(p.startswith("A refined runway look:") for p in prompts)
