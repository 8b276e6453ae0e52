"""A corpus of hostile inputs: each one must end in exit 2, one line that names what to fix,
and a workspace left exactly as it was.

A case is a command line with placeholders, the files it needs and the environment it runs in:
``{tmp}`` is the case's scratch folder, ``{ws}`` a workspace holding a finished tiny run,
``{image}`` one of its image files and ``{image_id}`` that image's id.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import yaml

from ..conftest import TINY

BASE = {**yaml.safe_load(TINY.read_text()), "rounds": 1, "workspace": "{ws}"}
WS = "workspace: \"{ws}\"\n"  # a raw-text config still writes nowhere but the case's copy


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    match: str  # a part of the one line: the field or file it names
    files: dict[str, bytes | str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    # a case that breaks the workspace itself: {relative path: bytes} written into {ws} first
    damage: dict[str, bytes | None] = field(default_factory=dict)


def config(**changes) -> str:
    """The tiny config (one round, into {ws}) with dotted-path fields changed; KeyError deletes."""
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        if value is KeyError:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return yaml.safe_dump(data, allow_unicode=True)


def run_with(text: str | bytes, *extra: str, name: str = "bad.yaml", env: dict | None = None, match: str,
             id: str, files: dict | None = None) -> Case:
    return Case(id, ("run", "--no-notebooks", "--config", f"{{tmp}}/{name}", *extra), match,
                {name: text, **(files or {})}, env or {})


def persona(text: str, *, id: str, match: str) -> Case:
    return run_with(config(feedback__persona="{tmp}/p.yaml"), files={"p.yaml": text}, id=id, match=match)


def feedback_import(text: str | bytes, *, id: str, match: str, name: str = "fb.csv",
                    extra: tuple = ("--user", "tester")) -> Case:
    return Case(id, ("feedback", "import", f"{{tmp}}/{name}", "--workspace", "{ws}", *extra), match, {name: text})


def bomb_png(side: int = 20_000) -> bytes:
    """A valid 1-bit PNG of side x side pixels (400 MP by default) in about 50 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + side // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


NESTED_YAML = "request: " + "[" * 5000 + "]" * 5000 + "\n"
NESTED_JSON = "[" * 100_000 + "]" * 100_000
FB_HEADER = "image_id,feedback_type,rating,comment\n"

CASES: list[Case] = [
    # ---------------------------------------------------------------- config files
    run_with(WS + "name: a\nrequest: red dress\nseed: 1\nseed: 2\n", id="config-duplicate-key", match="seed"),
    run_with(config().replace("select:", "select:\n  theta: 0.2\n  theta: 0.9\n", 1).replace("  theta: 0.7\n", ""),
             id="config-duplicate-nested-key", match="theta"),
    run_with(WS + NESTED_YAML, id="config-deeply-nested", match="bad.yaml"),
    Case("config-device-file", ("run", "--no-notebooks", "--config", "/dev/zero"), match="/dev/zero"),
    Case("config-is-directory", ("run", "--no-notebooks", "--config", "{tmp}"), match="config file"),
    run_with(b"\x89PNG\r\n\x1a\n\x00\x00binary", id="config-binary", match="bad.yaml"),
    run_with((WS + "name: caf\xe9\nrequest: red dress\n").encode("latin-1"), id="config-latin-1", match="UTF-8"),
    run_with(WS + "request: red dress\n" + "# padding\n" * 300_000, id="config-too-large", match="bad.yaml"),
    run_with("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
             "request: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n" + WS, id="config-alias-bomb", match="request"),
    run_with(WS + "request: red dress\n!!python/object:os.system {}: 1\n", id="config-python-tag", match="bad.yaml"),
    run_with(config(coverage__targets={"sleve_length": 0.1}), id="coverage-target-unknown-attribute",
             match="coverage.targets.sleve_length"),
    run_with(config(coverage__targets={"pattern": {"plaid-ish": 0.1}}), id="coverage-target-unknown-value",
             match="coverage.targets.pattern.plaid-ish"),
    run_with(config(coverage__targets={"pattern": 2.0}), id="coverage-target-over-one",
             match="coverage.targets.pattern"),
    run_with(config(request={"category": "dress", "colours": {"primary": "red"}}),
             id="request-mapping-nested", match="request.colours"),
    run_with(config(request={"category": "dress", "sleeve_lenght": "long"}),
             id="request-mapping-unknown-attribute", match="request.sleeve_lenght"),
    run_with(config(request={"category": ["dress", "coat"]}), id="request-mapping-list-value",
             match="request.category"),
    run_with(config(request="👗✨👠💃"), id="request-only-emoji", match="request"),
    run_with(config(request="\x01\x02\x03\x07"), id="request-control-characters", match="request"),
    run_with(config(request="red dress\x00\x00"), id="request-nul-bytes", match="request"),
    run_with(config(request="red midi dress " * 7000), id="request-100kb", match="request"),
    run_with(config(request=12345), id="request-a-number", match="request"),
    run_with(config(request=["red", "dress"]), id="request-a-list", match="request"),
    run_with(config(name="../../etc"), id="name-path-traversal", match="name"),
    run_with(config(rounds=10**12), id="rounds-huge", match="rounds"),
    run_with(config(seed=1.5), id="seed-float", match="seed"),
    run_with(config(generate__target_count=True), id="target-count-bool", match="generate.target_count"),
    run_with(config(select__theta=float("nan")), id="theta-nan", match="select.theta"),
    run_with(config(select__theta="0.5; drop table"), id="theta-string", match="select.theta"),
    run_with(config(cluster__k_max=10**9), id="k-max-huge", match="cluster.k_max"),
    run_with(config(generate__sketch={"width": -64}), id="sketch-width-negative", match="generate.sketch.width"),
    run_with(config(generate__sketch={"width": 100_000, "height": 100_000}), id="sketch-huge-canvas",
             match="generate.sketch"),
    run_with(config(embed__batch_size=0), id="batch-size-zero", match="embed.batch_size"),
    run_with(config(workspace="{tmp}/bad.yaml"), id="workspace-is-a-file", match="workspace"),
    run_with(config(workspace="/proc/bffkit-ws"), id="workspace-unwritable", match="workspace"),
    run_with(config(prompts__taxonomy="{tmp}/missing-taxonomy.yaml"), id="taxonomy-missing", match="taxonomy"),
    run_with(config(prompts__taxonomy="{tmp}/tax.yaml"), files={"tax.yaml": "groups: 7\n"},
             id="taxonomy-malformed", match="tax.yaml"),
    run_with(config(analytics__window_days=0), id="window-zero", match="analytics.window_days"),
    Case("run-id-traversal", ("run", "--no-notebooks", "--config", "{tmp}/c.yaml", "--run-id", "../../x"),
         "run_id", {"c.yaml": config()}),
    Case("run-reports-is-a-file", ("run", "--config", "{tmp}/c.yaml", "--reports", "{tmp}/c.yaml"),
         "--reports", {"c.yaml": config()}),
    # ---------------------------------------------------------------- personas
    persona("name: p\npreferences: [solid, stripes]\n", id="persona-preferences-list", match="preferences"),
    persona("name: p\nbase: high\n", id="persona-base-string", match="base"),
    persona("name: p\nnoise: -1\n", id="persona-noise-negative", match="noise"),
    persona("name: p\nneutral_band: -0.2\n", id="persona-band-negative", match="neutral_band"),
    persona("name: p\ndefect_penalty: .nan\n", id="persona-penalty-nan", match="defect_penalty"),
    persona("name: p\nseed: -4\n", id="persona-seed-negative", match="seed"),
    persona("name: p\npreferences: {pattern: [solid]}\n", id="persona-values-list", match="preferences.pattern"),
    persona("name: p\npreferences: {pattern: {solid: lots}}\n", id="persona-weight-string",
            match="preferences.pattern.solid"),
    persona("- a\n- b\n", id="persona-a-list", match="p.yaml"),
    run_with(config(feedback__persona="{tmp}"), id="persona-is-a-directory", match="feedback.persona"),
    run_with(config(feedback__persona="../../../etc/passwd"), id="persona-traversal", match="feedback.persona"),
    # ---------------------------------------------------------------- feedback files named by a config
    run_with(config(feedback__source="file", feedback__file="{tmp}/f.csv"),
             files={"f.csv": (FB_HEADER + "{image_id},positive,5,tr\xe8s joli\n").encode("latin-1")},
             id="config-feedback-file-latin-1", match="f.csv"),
    run_with(config(feedback__source="file", feedback__file="{tmp}/nothing.csv"), id="config-feedback-file-missing",
             match="nothing.csv"),
    run_with(config(feedback__source="file", feedback__file="{tmp}/f.csv"), files={"f.csv": ""},
             id="config-feedback-file-empty", match="f.csv"),
    run_with(config(feedback__source="file"), id="config-feedback-file-unset", match="feedback.file"),
    # ---------------------------------------------------------------- embedders and backends
    run_with(config(embed__model="sketch-clip@../../../../etc/passwd"), id="embedder-path-traversal",
             match="embed.model"),
    run_with(config(embed__model="sketch-clip@{tmp}/w.safetensors"), files={"w.safetensors": b"not weights"},
             id="embedder-garbage-weights", match="embed.model"),
    run_with(config(embed__model="local-dir:{tmp}"), id="embedder-local-dir-empty", match="embed.model"),
    run_with(config(embed__model="hf-hub:nobody/no-such-model"), id="embedder-hf-hub-offline", match="embed.model"),
    run_with(config(embed__model="ViT-B-32@laion2b_s34b_b79k"), id="embedder-needs-download", match="embed.model"),
    run_with(config(embed__model="ViT-B-32@laion400m_e31"), env={"HF_HUB_OFFLINE": "1"},
             id="embedder-tag-offline", match="embed.model"),
    run_with(config(generate__backend="openai"), env={"OPENAI_API_KEY": ""}, id="openai-key-empty",
             match="OPENAI_API_KEY"),
    run_with(config(generate__backend="openai"), env={"OPENAI_API_KEY": "   "}, id="openai-key-blank",
             match="OPENAI_API_KEY"),
    run_with(config(generate__backend="openai"), env={"OPENAI_API_KEY": "sk-test\nInjected: 1"},
             id="openai-key-newline", match="OPENAI_API_KEY"),
    run_with(config(generate__backend="openai"), env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "not a url"},
             id="openai-base-url-invalid", match="OPENAI_BASE_URL"),
    run_with(config(generate__backend="openai"),
             env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "ftp://127.0.0.1/v1"},
             id="openai-base-url-scheme", match="OPENAI_BASE_URL"),
    run_with(config(generate__backend="openai", generate__openai={"base_url": "localhost:9"}),
             env={"OPENAI_API_KEY": "sk-test"}, id="openai-config-base-url", match="generate.openai.base_url"),
    run_with(config(prompts__enhancer="openai"), env={"OPENAI_API_KEY": ""}, id="enhancer-key-empty",
             match="OPENAI_API_KEY"),
    run_with(config(generate__backend="diffusers", generate__diffusers={"model": "{tmp}/no-model"}),
             id="diffusers-model-missing", match="generate.diffusers.model"),
    run_with(config(), env={"OMP_NUM_THREADS": "many"}, id="threads-not-a-number", match="OMP_NUM_THREADS"),
    run_with(config(), env={"OPENBLAS_NUM_THREADS": "0"}, id="threads-zero", match="OPENBLAS_NUM_THREADS"),
    run_with(config(), env={"OMP_NUM_THREADS": "-3"}, id="omp-threads-negative", match="OMP_NUM_THREADS"),
    # ---------------------------------------------------------------- feedback import
    feedback_import("", id="import-empty-file", match="fb.csv"),
    feedback_import(FB_HEADER, id="import-header-only", match="fb.csv"),
    feedback_import("[]", name="fb.json", id="import-empty-json-list", match="fb.json"),
    feedback_import((FB_HEADER + "{image_id},positive,5,tr\xe8s joli\n").encode("latin-1"), id="import-latin-1",
                    match="UTF-8"),
    feedback_import(FB_HEADER + "{image_id},positive,5," + "x" * 131_072 + "\n", id="import-128kb-field",
                    match="comment"),
    feedback_import("id,image_id,feedback_type\nevt-1,{image_id},positive\nevt-1,{image_id},negative\n",
                    id="import-id-reused-in-file", match="evt-1"),
    feedback_import(FB_HEADER + "{image_id},positive,6,\n", id="import-rating-six", match="rating"),
    feedback_import(FB_HEADER + "{image_id},positive,3.5,\n", id="import-rating-half", match="rating"),
    feedback_import(FB_HEADER + "{image_id},love,,\n", id="import-type-unknown", match="feedback_type"),
    feedback_import("image_id,feedback_type,created_at\n{image_id},positive,yesterday\n", id="import-date-words",
                    match="created_at"),
    feedback_import("image_id,feedback_type,created_at\n{image_id},positive,99999-01-01\n", id="import-date-huge",
                    match="created_at"),
    feedback_import("picture,verdict\n{image_id},positive\n", id="import-wrong-header", match="picture"),
    feedback_import(FB_HEADER + "{image_id},positive,5,fine,extra,columns\n", id="import-extra-cells", match="row 2"),
    feedback_import(FB_HEADER + "{image_id},posi\x00tive,5,\n", id="import-nul-byte", match="fb.csv"),
    feedback_import(FB_HEADER + "no-such-image,positive,5,\n", id="import-unknown-image", match="image_id"),
    feedback_import(FB_HEADER + "x" * 10_000 + ",positive,5,\n", id="import-huge-image-id", match="image_id"),
    feedback_import(NESTED_JSON, name="fb.json", id="import-json-deeply-nested", match="fb.json"),
    feedback_import('{"image_id": "x"}', name="fb.json", id="import-json-object", match="fb.json"),
    feedback_import('{"image_id": "{image_id}", "feedback_type": "positive"}\n{oops\n', name="fb.jsonl",
                    id="import-jsonl-bad-line", match="line 2"),
    feedback_import('[{"image_id": "{image_id}", "feedback_type": "positive", "rating": [5]}]', name="fb.json",
                    id="import-json-rating-list", match="rating"),
    feedback_import('[{"image_id": {"a": 1}, "feedback_type": "positive"}]', name="fb.json",
                    id="import-json-image-id-object", match="image_id"),
    feedback_import("image_id,feedback_type\n{image_id},positive\n", name="fb.txt", id="import-suffix-txt",
                    match=".txt"),
    feedback_import(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", id="import-binary", match="fb.csv"),
    feedback_import(FB_HEADER + "{image_id},positive,5,ok\n", extra=("--user", "bad user!"), id="import-bad-user",
                    match="--user"),
    Case("import-directory", ("feedback", "import", "{tmp}", "--workspace", "{ws}"), "feedback file"),
    Case("import-device-file", ("feedback", "import", "{tmp}/zero.csv", "--workspace", "{ws}"), "zero.csv",
         files={"zero.csv": "@symlink:/dev/zero"}),
    Case("import-no-store", ("feedback", "import", "{tmp}/fb.csv", "--workspace", "{tmp}/nowhere", "--user", "t"),
         "--workspace",
         {"fb.csv": FB_HEADER + "{image_id},positive,5,\n"}),
    Case("import-id-reused-vs-store", ("feedback", "import", "{tmp}/fb.csv", "--workspace", "{ws}"), "{feedback_id}",
         {"fb.csv": "id,image_id,feedback_type,rating,user_id\n{feedback_id},{image_id},negative,1,tester\n"}),
    # ---------------------------------------------------------------- feedback export
    Case("export-missing-folder", ("feedback", "export", "--workspace", "{ws}", "--out", "{tmp}/no/such/dir/f.csv"),
         "--out"),
    Case("export-unwritable", ("feedback", "export", "--workspace", "{ws}", "--out", "/proc/bffkit-export.csv"),
         "--out"),
    Case("export-suffix", ("feedback", "export", "--workspace", "{ws}", "--out", "{tmp}/f.xlsx"), ".xlsx"),
    Case("export-onto-directory", ("feedback", "export", "--workspace", "{ws}", "--out", "{tmp}"), "--out"),
    # ---------------------------------------------------------------- images to `bffkit tag`
    Case("tag-decompression-bomb", ("tag", "{tmp}/bomb.png"), "bomb.png", {"bomb.png": bomb_png()}),
    Case("tag-text-as-png", ("tag", "{tmp}/fake.png"), "fake.png", {"fake.png": "hello"}),
    Case("tag-truncated-png", ("tag", "{tmp}/cut.png"), "cut.png", {"cut.png": "@truncate:{image}"}),
    Case("tag-empty-file", ("tag", "{tmp}/empty.png"), "empty.png", {"empty.png": b""}),
    Case("tag-directory", ("tag", "{tmp}"), "{tmp}"),
    Case("tag-device-file", ("tag", "/dev/zero"), "/dev/zero"),
    Case("tag-model-traversal", ("tag", "{image}", "--model", "sketch-clip@../../etc/shadow"), "--model"),
    Case("tag-model-unknown", ("tag", "{image}", "--model", "no-such-model"), "--model"),
    # ---------------------------------------------------------------- prompts
    Case("prompts-emoji", ("prompts", "🌸🌸🌸"), "request"),
    Case("prompts-control", ("prompts", "\x1b[31m\x07"), "request"),
    Case("prompts-100kb", ("prompts", "blue coat " * 10_000), "request"),
    Case("prompts-file-duplicate-keys", ("prompts", "{tmp}/r.yaml"), "category",
         {"r.yaml": "category: dress\ncategory: coat\n"}),
    Case("prompts-file-nested", ("prompts", "{tmp}/r.yaml"), "r.yaml", {"r.yaml": NESTED_YAML}),
    Case("prompts-file-list", ("prompts", "{tmp}/r.yaml"), "r.yaml", {"r.yaml": "- dress\n- coat\n"}),
    Case("prompts-file-value-list", ("prompts", "{tmp}/r.yaml"), "request.pattern",
         {"r.yaml": "category: dress\npattern: [solid, stripes]\n"}),
    Case("prompts-n-huge", ("prompts", "red dress", "--n", "99999999"), "--n"),
    # ---------------------------------------------------------------- the store itself
    Case("store-truncated", ("analytics", "--workspace", "{ws}"), "bff.duckdb", damage={"bff.duckdb": "@truncate"}),
    Case("store-random-bytes", ("feedback", "export", "--workspace", "{ws}"), "bff.duckdb",
         damage={"bff.duckdb": b"\x13\x37" * 5000}),
    Case("store-empty-file", ("purge", "--user", "tester", "--workspace", "{ws}"), "bff.duckdb",
         damage={"bff.duckdb": b""}),
    Case("store-is-directory", ("analytics", "--workspace", "{ws}"), "bff.duckdb", damage={"bff.duckdb": None}),
    Case("store-corrupt-run", ("run", "--no-notebooks", "--config", "{tmp}/c.yaml"), "bff.duckdb",
         {"c.yaml": config()}, damage={"bff.duckdb": "@truncate"}),
    Case("store-corrupt-import", ("feedback", "import", "{tmp}/fb.csv", "--workspace", "{ws}", "--user", "t"),
         "bff.duckdb",
         {"fb.csv": FB_HEADER + "{image_id},positive,5,\n"}, damage={"bff.duckdb": "@truncate"}),
    # ---------------------------------------------------------------- generate, embed
    Case("generate-resume-unknown-job", ("generate", "--config", "{tmp}/c.yaml", "--resume", "no-such-job"),
         "no-such-job", {"c.yaml": config()}),
    Case("generate-backend-flag", ("generate", "--config", "{tmp}/c.yaml", "--backend", "dalle"), "generate.backend",
         {"c.yaml": config()}),
    Case("embed-config-bad", ("embed", "--config", "{tmp}/c.yaml"), "embed.batch_size",
         {"c.yaml": config(embed__batch_size="lots")}),
    run_with(config(feedback__source="file", feedback__file="{tmp}"), id="config-feedback-file-directory",
             match="feedback file"),
    Case("tag-prompt-control", ("tag", "{image}", "--prompt", "red\x07dress"), "--prompt"),
    # ---------------------------------------------------------------- other commands
    Case("bench-unknown", ("bench", "nosuch"), "nosuch"),
    Case("bench-persona-broken", ("bench", "loop", "--persona", "{tmp}/p.yaml"), "p.yaml",
         {"p.yaml": "name: p\nnoise: -1\n"}),
    Case("purge-empty-user", ("purge", "--user", "", "--workspace", "{ws}"), "--user"),
    Case("analytics-no-store", ("analytics", "--workspace", "{tmp}/none"), "--workspace"),
]
