"""After training: calibrate alignment and measure zero-shot accuracy, recorded beside the weights."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ...digest import file_digest
from ...scoring import calibrate_alignment
from ...tagging import VLTTagger, evaluate_tagger
from ..embedders import create_embedder
from .architecture import MODEL_DIR, MODEL_NAME


def finish_model(out_dir: Path = MODEL_DIR, n_eval: int = 1000) -> dict:
    """Calibrate alignment and measure zero-shot accuracy of a trained model; record both beside it."""
    embedder = create_embedder(f"local-dir:{out_dir}")
    # the id the `sketch-clip` preset gives these weights (the cache key of their embeddings)
    preset_id = f"{MODEL_NAME}#{file_digest(out_dir / 'open_clip_model.safetensors')}"
    calibration = {**asdict(calibrate_alignment(embedder)), "model_id": preset_id}
    (out_dir / "calibration.json").write_text(json.dumps(calibration, indent=2))
    evaluation = evaluate_tagger(VLTTagger(embedder), n=n_eval)
    report_path = out_dir / "training.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    report.update(zero_shot_accuracy=evaluation.accuracy, zero_shot_support=evaluation.support,
                  calibration=calibration)
    report_path.write_text(json.dumps(report, indent=2))
    return {"zero_shot_accuracy": evaluation.accuracy, "calibration": calibration}
