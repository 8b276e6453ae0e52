"""`bffkit serve` under load: a real server process on 127.0.0.1, many clients at once.

:class:`ServerProcess` starts ``bffkit serve`` on a free port and stops it (the load test uses
it too); :func:`post_feedback` drives N concurrent clients with M posts each and times every
request. The benchmark's baseline is the same server's health endpoint, timed the same way in
the same run: the difference is what a feedback POST costs beyond the HTTP stack itself.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import yaml

from ..exceptions import BffkitError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``bffkit serve`` over `workspace` in a subprocess, as a context manager: its base URL."""

    def __init__(self, workspace: str | Path, settings: dict | None = None, start_timeout: float = 90.0):
        self.workspace, self.settings, self.start_timeout = Path(workspace), settings or {}, start_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self._settings_dir = Path(tempfile.mkdtemp(prefix="bffkit-serve-"))

    def __enter__(self) -> ServerProcess:
        import httpx2

        path = self._settings_dir / "serve.yaml"
        path.write_text(yaml.safe_dump(self.settings))
        # one BLAS thread: the server shares the machine with its clients
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bffkit", "serve", "--workspace", str(self.workspace), "--port", str(self.port),
             "--config", str(path), "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                if httpx2.get(f"{self.url}/api/health", timeout=2).status_code in (200, 503):
                    return self
            except httpx2.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                err = self.stop()
                raise BffkitError(f"bffkit serve did not start: {err.strip().splitlines()[-1:] or 'timed out'}")
            time.sleep(0.2)

    def stop(self) -> str:
        """Stop it as Ctrl-C would (the writer merges what is left); its stderr."""
        err = ""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
            try:
                _, err = self.process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                _, err = self.process.communicate()
            self.process = None
        shutil.rmtree(self._settings_dir, ignore_errors=True)
        return err or ""

    def __exit__(self, *exc) -> None:
        self.stop()


def add_users(store, names: list[str], role: str = "reviewer") -> dict[str, str]:
    """name -> token for new API users."""
    from ..serve.auth import hash_token, new_token

    tokens = {}
    for name in names:
        tokens[name] = new_token()
        store.add_api_user(name, role, hash_token(tokens[name]))
    return tokens


async def _client(url: str, token: str, requests: list[tuple[str, str, dict | None]], results: list,
                  pause: float) -> None:
    import httpx2

    async with httpx2.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for method, path, body in requests:
            t0 = time.perf_counter()
            response = await client.request(method, path, json=body)
            results.append((time.perf_counter() - t0, response.status_code))
            if pause:
                await asyncio.sleep(pause)


def drive(url: str, tokens: list[str], per_client: list[list[tuple[str, str, dict | None]]],
          pause: float = 0.0) -> tuple[list, float]:
    """Every client (one token each) sends its requests one after another, `pause` s apart, all
    clients at once: ([(seconds, status), ...], wall seconds)."""
    results: list = []

    async def main():
        await asyncio.gather(*(_client(url, t, reqs, results, pause) for t, reqs in zip(tokens, per_client)))

    t0 = time.perf_counter()
    asyncio.run(main())
    return results, time.perf_counter() - t0


def feedback_requests(image_ids: list[str], n: int, rng: np.random.Generator, tag: str) -> list:
    kinds = ("positive", "negative", "neutral")
    return [("POST", "/api/feedback/events",
             {"image_id": image_ids[int(rng.integers(len(image_ids)))], "feedback_type": kinds[int(rng.integers(3))],
              "client_event_id": f"{tag}-{i}-{uuid.uuid4().hex[:8]}"}) for i in range(n)]


def latency(results: list, wall: float, ok: int) -> dict:
    seconds = np.array([r[0] for r in results])
    return {"p50_ms": round(float(np.percentile(seconds, 50)) * 1e3, 2),
            "p95_ms": round(float(np.percentile(seconds, 95)) * 1e3, 2),
            "req_per_s": round(len(results) / wall, 1),
            "errors": sum(r[1] != ok for r in results)}


def load_review_page(url: str, token: str, run_id: str, connections: int = 6) -> tuple[float, int]:
    """Seconds to fetch the review page and every image on it, `connections` at a time (as a
    browser does, nothing cached), and how many images there were."""
    import httpx2

    async def main() -> int:
        limits = httpx2.Limits(max_connections=connections)
        async with httpx2.AsyncClient(base_url=url, cookies={"bffkit_token": token}, limits=limits, timeout=60) as c:
            page = await c.get(f"/review/{run_id}")
            page.raise_for_status()
            sources = re.findall(r'<img src="([^"]+)"', page.text)
            for r in await asyncio.gather(*(c.get(s) for s in sources)):
                r.raise_for_status()
            return len(sources)

    t0 = time.perf_counter()
    n = asyncio.run(main())
    return time.perf_counter() - t0, n


def bench_workspace(root: Path, selected: int = 48):
    """A one-round sketch run with `selected` images selected (no feedback yet): (workspace, run id, ids)."""
    from ..config import load_config
    from ..paths import DATA_DIR
    from ..pipeline import run

    config = load_config(DATA_DIR / "configs" / "tiny.yaml", {"rounds": 1, "generate.target_count": selected,
                                                              "feedback.source": "none", "name": "bench-serve"},
                         workspace=root / "ws")
    from ..store import open_store

    result = run(config, progress=False, log=lambda _m: None)
    ids = open_store(config.workspace).selection(result.rounds[0].job_id)["selected_ids"]
    return config.workspace, result.run_id, ids


def bench_serve(n: int = 50, repeats: int = 3, clients: int = 20, **_ignored) -> dict:
    """Feedback POST latency (p50/p95) and requests/s at 1 and `clients` concurrent clients, `n`
    posts each, against the health endpoint timed the same way; the review page of 48 images."""
    from ..store import open_store

    root = Path(tempfile.mkdtemp(prefix="bffkit-bench-serve-"))
    try:
        workspace, run_id, image_ids = bench_workspace(root)
        store = open_store(workspace)
        tokens = list(add_users(store, [f"bench{i}" for i in range(clients)]).values())
        rng = np.random.default_rng(0)
        out: dict = {"clients": clients, "posts_per_client": n, "review_images": len(image_ids)}
        sent = 0
        settings = {"rate_limit": "1000000/minute", "file_rate_limit": "1000000/minute"}
        with ServerProcess(workspace, settings) as server:
            drive(server.url, tokens[:1], [feedback_requests(image_ids, 20, rng, "warm")])  # imports, caches
            sent += 20
            for c in (1, clients):
                best: dict = {}
                for r in range(repeats):
                    health, wall = drive(server.url, tokens[:c], [[("GET", "/api/health", None)] * n] * c)
                    base = latency(health, wall, 200)
                    posts = [feedback_requests(image_ids, n, rng, f"c{c}r{r}k{k}") for k in range(c)]
                    results, wall = drive(server.url, tokens[:c], posts)
                    sent += c * n
                    fb = latency(results, wall, 202)
                    if not best or fb["p95_ms"] < best["feedback"]["p95_ms"]:
                        best = {"health": base, "feedback": fb}
                for kind in ("health", "feedback"):
                    for key, value in best[kind].items():
                        out[f"{kind}_{key}_{c}"] = value
                out[f"feedback_vs_health_p95_{c}"] = round(best["feedback"]["p95_ms"] / best["health"]["p95_ms"], 2)
            page = min(load_review_page(server.url, tokens[0], run_id)[0] for _ in range(repeats))
            out["review_page_seconds"] = round(page, 3)
        # the server merged everything before it stopped
        out["stored_of_sent"] = f"{len(store.feedback())}/{sent}"
        out["target_p95_50ms_met"] = out[f"feedback_p95_ms_{clients}"] <= 50
        out["target_review_1s_met"] = page <= 1.0
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)
