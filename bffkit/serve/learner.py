"""Learning from feedback posted to the server, in a process of its own.

After the writer merges new events it hands the users they came from to this process, which
marks outliers and refits what feedback taught (:func:`bffkit.preferences.update_from_feedback`)
at most every `every` seconds. It is CPU work (a preference head per user): run in the
server's process it would take the interpreter from the requests (measured: feedback p95 at
20 clients 94 ms with learning in a server thread, 54 ms without; docs/serve.md).
"""

from __future__ import annotations

import queue as queue_module
import sys
import time
import traceback

from .queue import Worker


def learn(workspace: str, threshold: float, every: float, users, stop, wake) -> None:
    """The learner process: learn from the users that arrive on `users` until `stop` is set."""
    from ..exceptions import StoreError
    from ..preferences import update_from_feedback
    from ..store import Store

    store = Store(workspace, lock_timeout=30)
    pending: set[str] = set()
    learned_at = 0.0
    while not stop.is_set():
        try:
            pending.update(users.get(timeout=0.5))
            while True:
                pending.update(users.get_nowait())
        except queue_module.Empty:
            pass
        if not pending or time.monotonic() - learned_at < every:
            continue
        batch = sorted(pending)
        try:
            update_from_feedback(store, batch, threshold=threshold)
            pending.difference_update(batch)
        except StoreError:
            pass  # busy or unreadable: the same users next pass
        except Exception:  # noqa: BLE001 - the learner outlives one bad pass; its users are dropped
            print(f"bffkit learner: learning from {len(batch)} user(s) failed:\n{traceback.format_exc()}",
                  file=sys.stderr)
            pending.difference_update(batch)
        learned_at = time.monotonic()


class Learner:
    """The server's handle on its learner process: `submit` the users whose feedback just landed."""

    def __init__(self, workspace, threshold: float = 0.75, every: float = 2.0):
        import multiprocessing

        self._users = multiprocessing.get_context("spawn").Queue()
        self._process = Worker(learn, str(workspace), threshold, every, self._users, name="bffkit-learner")

    def start(self) -> None:
        self._process.start()

    def submit(self, user_ids) -> None:
        self._users.put(sorted(set(user_ids)))

    @property
    def alive(self) -> bool:
        return self._process.alive

    def stop(self) -> None:
        self._process.stop(timeout=10)
        self._users.close()
