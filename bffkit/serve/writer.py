"""The server's one writer: a thread that merges the feedback inbox, learns, and keeps retention.

DuckDB lets one process write a store file at a time, and a batch run may be writing the same
workspace. A feedback POST therefore only checks the event and drops it in the inbox
(:class:`bffkit.feedback.Inbox`, one small file written whole): it never waits on the store.
This thread merges what arrived in one transaction whenever the store is free (the batch run's
own feedback stage merges it too; merging is idempotent), then has outliers and what
feedback taught updated, at most every `learn_every` seconds: by the learner process
(:mod:`bffkit.serve.learner`) when the server has one, else in this thread. Every other write the API makes takes
the same lock, so the server holds at most one write at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from ..exceptions import StoreError
from ..feedback import Inbox

log = logging.getLogger("bffkit.serve")


class StoreWriter:
    def __init__(self, store, *, users, threshold: float = 0.75, retention_days: int | None = None,
                 interval: float = 0.25, learn_every: float = 2.0, retention_every: float = 3600.0, learner=None):
        self.store, self.users, self.threshold, self.learner = store, users, threshold, learner
        self.retention_days, self.interval = retention_days, interval
        self.learn_every, self.retention_every = learn_every, retention_every
        self.inbox = Inbox(store.workspace)
        self.lock = threading.RLock()  # the server's one write at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bffkit-writer", daemon=True)
        self._to_learn: set[str] = set()
        self._learned_at = 0.0
        self._retention_at = -retention_every
        self.merged = 0
        self.last_error: str | None = None
        self.last_ok: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()  # what arrived in the last moments is stored before the server exits

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self.step()

    def step(self) -> None:
        """One pass: merge, learn if due, purge if due, reload users if stale. Never raises."""
        try:
            self.flush()
            if self._to_learn and time.monotonic() - self._learned_at >= self.learn_every:
                self.learn()
            if self.retention_days and time.monotonic() - self._retention_at >= self.retention_every:
                self.apply_retention()
            self.users.refresh_if_stale()
            self.last_ok, self.last_error = time.time(), None
        except StoreError as err:  # busy (a batch run holds it) or unreadable: try again next pass
            self.last_error = str(err)
        except Exception as err:  # noqa: BLE001 - the thread must outlive one bad pass
            log.exception("store writer pass failed")
            self.last_error = f"{type(err).__name__}: {err}"

    def flush(self) -> int:
        """Merge the inbox now; the number of new events stored."""
        if not self.inbox.pending():
            return 0
        with self.lock:
            new = self.inbox.merge(self.store)
        self.merged += len(new)
        if self.learner is not None and new:
            self.learner.submit(e.user_id for e in new)  # its own process learns (and debounces)
        else:
            self._to_learn.update(e.user_id for e in new)
        return len(new)

    def learn(self) -> None:
        from ..preferences import update_from_feedback

        users, self._to_learn = sorted(self._to_learn), set()
        try:
            with self.lock:
                update_from_feedback(self.store, users, threshold=self.threshold)
        except BaseException:
            self._to_learn.update(users)  # learn from them next pass
            raise
        self._learned_at = time.monotonic()

    def apply_retention(self) -> dict[str, int]:
        with self.lock:
            removed = self.store.purge_feedback_older_than(self.retention_days)
        self._retention_at = time.monotonic()
        if any(removed.values()):
            log.info("retention: removed %s feedback row(s) older than %s days", removed["user_feedback"],
                     self.retention_days)
        return removed


class ImageIndex:
    """Every stored image's id, sha256 and file, in memory: a feedback POST checks its image and a
    review page's 48 image requests find their files without opening the store."""

    def __init__(self, store, miss_interval: float = 0.5):
        self.store, self.miss_interval = store, miss_interval
        self.images_dir = store.images_dir.resolve()
        self._files: dict[str, tuple[str, str]] = {}
        self._loaded = -miss_interval
        self._reloading = threading.Lock()

    def _reload_if_due(self) -> None:
        # concurrent callers wait for a reload in flight instead of reading the map it replaces
        with self._reloading:
            if time.monotonic() - self._loaded >= self.miss_interval:
                self._files = self.store.image_files()
                self._loaded = time.monotonic()

    def unknown(self, image_ids: list[str]) -> list[str]:
        """The ids not in memory (never waits on the store)."""
        return [i for i in image_ids if i not in self._files]

    def missing(self, image_ids: list[str]) -> list[str]:
        """The ids not stored; reloads (at most every `miss_interval` s) before calling one missing."""
        if any(i not in self._files for i in image_ids):
            self._reload_if_due()
        return [i for i in image_ids if i not in self._files]

    def file(self, image_id: str) -> tuple[str, Path] | None:
        """(sha256, path) of a stored image's file, or None. Only ever a file under images/."""
        if image_id not in self._files:
            self._reload_if_due()
        found = self._files.get(image_id)
        if found is None:
            return None
        path = (self.store.workspace / found[1]).resolve()
        return (found[0], path) if path.is_relative_to(self.images_dir) and path.is_file() else None
