"""Benchmarks run and report ratios against an in-process baseline (no timing asserted)."""
from __future__ import annotations

import json

import pytest

from bffkit.bench import bench_architecture, run_bench


def test_bench_generate_reports_rates_and_ratios(cli):
    code, out, err = cli("bench", "generate", "--n", "20", "--repeats", "1", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["bench"] == "generate" and doc["images"] == 20 and doc["cores"] == 1
    for key in ("baseline_images_per_s", "render_png_images_per_s", "job_images_per_s"):
        assert doc[key] > 0
    assert doc["render_png_vs_baseline"] == pytest.approx(doc["render_png_images_per_s"] / doc["baseline_images_per_s"],
                                                          rel=0.01)
    assert doc["meets_target"] == (doc["render_png_images_per_s"] >= 50)


def test_unknown_bench(cli):
    code, out, err = cli("bench", "warp-drive")
    assert (code, out) == (2, "")
    assert err == "error: unknown benchmark 'warp-drive'; available: generate, generate-sd15, generate-sd-turbo, embed, train-text, dpp, cluster, loop, feedback-import, sliders, serve, report\n"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sd15", "sd-turbo"])
def test_architecture_bench_runs_its_code_path_at_reduced_scale(arch):
    doc = bench_architecture(arch, size=64, steps=1, batch=2, repeats=1, scale=0.1)
    assert doc["bench"] == f"generate-{arch}" and doc["device"] == "cpu"
    assert doc["seconds_per_image"] > 0 and doc["pipeline_vs_unet_only"] > 0


def test_bench_train_text_compares_attention_kernels_on_the_same_maths(cli):
    code, out, err = cli("bench", "train-text", "--n", "16", "--repeats", "1", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["bench"] == "train-text" and doc["texts"] == 16 and doc["cores"] == 1
    for name in ("prompt_step", "captions"):
        row = doc[name]
        assert row["math_seconds"] > 0 and row["flash_seconds"] > 0
        assert row["speedup_vs_flash"] == pytest.approx(row["flash_seconds"] / row["math_seconds"], abs=0.01)
        # the kernel changes the cost, not the loss
        assert row["float32_loss"]["math"] == pytest.approx(row["float32_loss"]["flash"], rel=1e-5)


def test_bench_dpp_matches_the_reference_and_reports_ratios():
    from bffkit.bench import bench_dpp

    out = bench_dpp(repeats=1, k=20, d=64, sizes=(2000,))
    row = out["sizes"]["2000"]
    assert row["same_selection_as_reference"] is True
    for key in ("seconds", "reference_seconds", "ratio_to_reference", "floor_seconds", "ratio_to_floor"):
        assert row[key] > 0
    assert "meets_target" not in row  # only the anchored sizes carry targets


def test_bench_cluster_agrees_with_exhaustive_sklearn(cli):
    code, out, _ = cli("bench", "cluster", "--n", "3000", "--json")
    result = json.loads(out)
    assert code == 0 and result["same_k"] and result["k"] == result["true_k"] == 6
    assert result["ratio_to_reference"] > 0 and result["target_seconds"] == 3.0


def test_the_sliders_kernel_recompute_is_timed_against_a_plain_kmeans_fit():
    from bffkit.bench.selection import slider_recompute

    doc = slider_recompute(200)
    assert doc["n"] == 200
    assert doc["slowest_k_slider_seconds"] > 0 and doc["slowest_theta_slider_seconds"] > 0
    assert doc["meets_target"] == (max(doc["slowest_k_slider_seconds"], doc["slowest_theta_slider_seconds"]) < 1)


@pytest.mark.slow
def test_serve_bench_drives_a_real_server_and_stores_every_post():
    doc = run_bench("serve", n=4, repeats=1, clients=3)
    assert doc["review_images"] == 48 and doc["review_page_seconds"] > 0
    assert doc["feedback_errors_1"] == doc["feedback_errors_3"] == doc["health_errors_3"] == 0
    assert doc["stored_of_sent"] == "36/36"  # 20 warm-up + 4 + 3 x 4, every one merged before the stop
    assert doc["feedback_vs_health_p95_3"] > 0
