from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml

from .conftest import ROOT, TINY

BASE = yaml.safe_load(TINY.read_text())


def config_with(path: str, value):
    """The tiny config with one field set (or deleted, for value=KeyError)."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    cur = data
    for key in parents:
        cur = cur.setdefault(key, {})
    if value is KeyError:
        del cur[last]
    else:
        cur[last] = value
    return data


BAD_CONFIGS = [
    ("select.theta", 1.5, "select.theta=1.5: must be in [0, 1)"),
    ("generate.overgeneration", 5, "generate.overgeneration=5: must be in [2, 3]"),
    ("cluster.k_min", 6, "cluster: k_min=6 must be <= k_max=4"),
    ("rounds", "two", 'rounds="two": must be an integer'),
    ("select.thetta", 0.5, "select: unknown field 'thetta'; did you mean 'theta'? allowed: theta, cluster_aware, k, kernel, bandwidth, min_distance"),
    ("generate.backend", "midjourney",
     'generate.backend="midjourney": unknown backend; available: sketch, diffusers, openai'),
    ("request", "", "request=\"\": must not be empty; describe the design, e.g. 'red midi wrap dress'"),
    ("request", KeyError, "request: is required"),
    ("request", {"length": "mid"},
     "request.length='mid': not a value of 'length'; allowed: mini, above-knee, knee-length, midi, maxi, floor-length"),
    ("request", {"neckline": "v-neck", "sleve_length": "long"},
     "request.sleve_length: unknown attribute; did you mean sleeve_length, leg_length, length?"),
    ("request", {"category": "trousers", "sleeve_length": "long"},
     "request.sleeve_length: does not apply to category 'trousers'; it applies to: dress, jumpsuit, top, "
     "t-shirt, shirt, blouse, sweater, cardigan, hoodie, coat, jacket, blazer"),
    ("feedback.outlier_threshold", 1.2, "feedback.outlier_threshold=1.2: must be in [0, 1]"),
    ("seed", -1, "seed=-1: must be in [0, 4294967295]"),
    ("embed.device", "tpu", 'embed.device="tpu": must be one of: auto, cuda, mps, cpu'),
    ("generate.diffusers", {"width": 500}, "generate.diffusers.width=500: must be a multiple of 8"),
    ("user_id", "bad id!", "user_id=\"bad id!\": must be non-empty letters, digits, '-', '_' or '.'"),
    ("coverage.boost_min", 0.3, "coverage: boost_min=0.3 must be <= boost_max=0.25"),
    ("select.cluster_aware", "maybe", 'select.cluster_aware="maybe": must be true or false'),
    ("generate.target_count", 0, "generate.target_count=0: must be in [1, 100000]"),
    ("prompts.enhancer", "gpt", 'prompts.enhancer="gpt": must be one of: rules, openai'),
]


@pytest.mark.parametrize("path, value, message", BAD_CONFIGS, ids=[f"{p}={v!r}" for p, v, _ in BAD_CONFIGS])
def test_bad_config_gives_one_line_and_exit_2(cli, tmp_path, workspace, path, value, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(config_with(path, value)))
    code, out, err = cli("run", "--no-notebooks", "--config", cfg, "--workspace", workspace)
    assert code == 2
    assert err == f"error: bad.yaml: {message}\n"
    assert out == ""
    assert not workspace.exists()  # failed before any work


def test_bad_config_files(cli, tmp_path, workspace):
    code, _, err = cli("run", "--config", tmp_path / "missing.yaml")
    assert (code, err) == (2, f"error: config file not found: {tmp_path / 'missing.yaml'}\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nrequest: [unclosed\n")
    code, _, err = cli("run", "--config", broken)
    assert code == 2 and err.startswith("error: broken.yaml: not valid YAML at line ")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert cli("run", "--config", empty)[1:] == ("", "error: empty.yaml: the config file is empty\n")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    assert cli("run", "--config", listed)[2] == "error: list.yaml: top level must be a mapping of fields, got list\n"


BAD_PROMPTS = [
    (["", "--n", "2"], "error: request: is empty; describe the design, e.g. 'red midi wrap dress'"),
    (["red dress", "--n", "0"], "error: bffkit prompts: Invalid value for '--n': 0 is not in the range 1<=x<=100000."),
    (["red dress", "--seed", "-3"], "error: bffkit prompts: Invalid value for '--seed': -3 is not in the range x>=0."),
    (["red dress", "--backend", "dalle"], "error: --backend='dalle': unknown backend; available: sketch, diffusers, openai"),
    (["missing.yaml"], "error: request file not found: missing.yaml"),
]


@pytest.mark.parametrize("args, message", BAD_PROMPTS, ids=[str(a) for a, _ in BAD_PROMPTS])
def test_bad_prompt_requests(cli, args, message):
    code, out, err = cli("prompts", *args)
    assert (code, out, err) == (2, "", message + "\n")


def test_structured_request_file_errors(cli, tmp_path):
    req = tmp_path / "req.yaml"
    req.write_text("category: dress\nfit: skin tight\n")
    code, _, err = cli("prompts", req)
    assert code == 2
    assert err == ("error: request.fit='skin tight': not a value of 'fit'; "
                   "allowed: slim, regular, relaxed, oversized, tailored\n")


def test_prompts_json_is_one_stable_document(cli, tmp_path):
    code, out, err = cli("prompts", "sleeveless red midi dress", "--n", "3", "--seed", "4", "--json")
    assert code == 0 and err == ""
    specs = json.loads(out)
    assert len(specs) == 3
    for s in specs:
        assert {"prompt", "negative_prompt", "attributes", "params", "seed"} <= set(s)
        assert s["attributes"]["sleeve_length"] == "sleeveless"
        assert "long sleeves" in s["negative_prompt"]
    assert json.loads(cli("prompts", "sleeveless red midi dress", "--n", "3", "--seed", "4", "--json")[1]) == specs
    req = tmp_path / "req.yaml"
    req.write_text("category: coat\ncolour: camel\n")
    code, out, _ = cli("prompts", req, "--n", "2", "--json", "--backend", "openai")
    coats = json.loads(out)
    assert all(s["attributes"]["category"] == "coat" and s["params"]["size"] == "1024x1536" for s in coats)


@pytest.mark.slow  # an end-to-end run
def test_run_tiny_config_plans_every_round_and_resumes(cli, workspace):
    code, out, err = cli("run", "--no-notebooks", "--config", TINY, "--workspace", workspace, "--json")
    assert code == 0
    result = json.loads(out)
    assert [r["n_specs"] for r in result["rounds"]] == [16, 16]
    assert all(r["new"] for r in result["rounds"])
    assert "round 1 · prompts: 16 specs planned" in err
    from bffkit.store import open_store

    store = open_store(workspace)
    jobs = store.jobs(result["run_id"])
    assert list(jobs["round"]) == [1, 2]
    assert set(jobs["status"]) == {"done"}
    assert list(jobs["n_done"]) == [16, 16]
    assert set(jobs["user_id"]) == {"tester"}
    assert store.table("runs").loc[0, "status"] == "done"
    assert store.table_counts()["generated_images"] == 32
    assert len(store.table("vlt_attributes")) >= 60
    round1 = store.prompt_specs(jobs.loc[0, "id"])
    round2 = store.prompt_specs(jobs.loc[1, "id"])
    assert [s["attributes"] for s in round1] != [s["attributes"] for s in round2]  # rounds differ
    for s in round1 + round2:
        assert s["attributes"]["primary_color"] == "red" and s["attributes"]["length"] == "mini"
    # rerunning the same config resumes: every finished stage is kept, nothing planned or made twice
    code, out, err = cli("run", "--no-notebooks", "--config", TINY, "--workspace", workspace, "--json")
    rounds = json.loads(out)["rounds"]
    assert code == 0 and all(r["resumed"] for r in rounds) and not any(r["resumed"] for r in result["rounds"])
    assert [{**r["generation"], "resumed": False} for r in rounds] == [{**r["generation"], "resumed": False}
                                                                         for r in result["rounds"]]
    assert "round 2 · select: " in err and err.count("(done before; kept)") == 14
    assert store.table_counts()["prompt_specs"] == 32
    assert store.table_counts()["generated_images"] == 32


def test_init_doctor_and_purge(cli, workspace, monkeypatch):
    code, out, _ = cli("init", "--workspace", workspace)
    assert code == 0 and "VLT attributes" in out
    secret = "sk-test-SECRET-value-never-printed"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    code, out, _ = cli("doctor", "--workspace", workspace, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"]
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["store"]["ok"] and checks["taxonomy"]["ok"]
    assert checks["OPENAI_API_KEY"]["detail"] == "set"
    assert secret not in out
    assert checks["torch"]["ok"]
    code, out, _ = cli("run", "--no-notebooks", "--config", TINY, "--workspace", workspace)
    code, out, _ = cli("purge", "--user", "tester", "--workspace", workspace, "--json")
    purged = json.loads(out)
    assert code == 0 and purged["rows"]["prompt_specs"] == 32 and purged["rows"]["generation_jobs"] == 2
    assert purged["rows"]["generated_images"] == 32 and purged["files"] > 0
    assert not list((workspace / "images").rglob("*.png"))
    code, _, err = cli("purge", "--user", "x", "--workspace", workspace / "nowhere")
    assert code == 2 and "no store at" in err


def test_doctor_fails_on_a_broken_store(cli, workspace):
    workspace.mkdir()
    (workspace / "bff.duckdb").write_text("not a database")
    code, out, _ = cli("doctor", "--workspace", workspace, "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert "truncated or corrupt" in {c["check"]: c for c in report["checks"]}["store"]["detail"]
    blocker = workspace / "file"
    blocker.write_text("x")
    code, out, err = cli("doctor", "--workspace", blocker)
    assert code == 2 and out == "" and err.startswith("error: bffkit doctor: Invalid value for '--workspace'")


@pytest.mark.slow
def test_console_script_end_to_end(tmp_path):
    """The installed `bffkit` entry point, in a real process: JSON on stdout, exit codes."""
    exe = os.path.join(os.path.dirname(sys.executable), "bffkit")
    ok = subprocess.run([exe, "prompts", "red dress", "--n", "2", "--json"], capture_output=True, text=True,
                        cwd=ROOT)
    assert ok.returncode == 0 and len(json.loads(ok.stdout)) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config_with("select.theta", 1.5)))
    fail = subprocess.run([exe, "run", "--config", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert fail.returncode == 2
    assert fail.stderr == "error: bad.yaml: select.theta=1.5: must be in [0, 1)\n"
    assert fail.stdout == ""
