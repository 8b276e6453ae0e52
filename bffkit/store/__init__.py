"""The workspace store: one DuckDB file plus content-addressed images; the only code with SQL.

A workspace is a folder holding ``bff.duckdb`` and ``images/``. The schema is created and
migrated forward by :mod:`.schema`; every statement binds its values as parameters; every
reader returns decoded values (dicts, arrays, DataFrames whose JSON columns hold Python
objects); every id is made in :mod:`.ids`. The methods live by table family:

========================  ==========================================================
:mod:`.connection`        connections, lock retries, transactions, migrations
:mod:`.runs`              runs, run metrics, the taxonomy
:mod:`.images`            generation jobs, prompt specs, image files and rows
:mod:`.embeddings`        embeddings, tags and scores, model calibrations
:mod:`.results`           clusterings, selections, coverage reports and gaps
:mod:`.feedback`          feedback, outliers, learning, analytics' rows
:mod:`.privacy`           purging one user, and feedback past its retention
:mod:`.users`             API users and their token hashes
========================  ==========================================================

The store holds no domain rules: what a gap is, which stage counts what, how a calibration
or preference head is used — the callers decide and pass plain values in.
"""

from __future__ import annotations

from pathlib import Path

from ..exceptions import StoreError
from ..paths import IMAGES_DIRNAME, STORE_FILENAME
from . import ids
from .embeddings import EmbeddingsTables
from .feedback import FeedbackTables
from .images import ImagesTables
from .privacy import PrivacyTables, PurgeReport
from .results import ResultsTables
from .runs import RunsTables
from .schema import API_ROLES, FEEDBACK_TYPES, GAP_SEVERITIES, JOB_STATUSES, LATEST_VERSION, TABLES, VIEWS
from .users import UsersTables

__all__ = ["API_ROLES", "FEEDBACK_TYPES", "GAP_SEVERITIES", "JOB_STATUSES", "LATEST_VERSION", "STORE_FILENAME",
           "TABLES", "VIEWS", "PurgeReport", "Store", "ids", "open_store"]


class Store(RunsTables, ImagesTables, EmbeddingsTables, ResultsTables, FeedbackTables, PrivacyTables, UsersTables):
    """A workspace's DuckDB store. Construct with :func:`open_store` to create and migrate it."""


def open_store(workspace: str | Path, *, migrate: bool = True, lock_timeout: float = 30.0) -> Store:
    """Create the workspace folder if needed and bring its store to the latest schema."""
    workspace = Path(workspace)
    if workspace.exists() and not workspace.is_dir():
        raise StoreError(f"workspace {workspace} exists and is not a folder")
    try:
        (workspace / IMAGES_DIRNAME).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create workspace {workspace}: {err.strerror}") from None
    store = Store(workspace, lock_timeout=lock_timeout)
    store.check_intact()  # before anything is written into a damaged file
    if migrate:
        store.migrate()
    return store
