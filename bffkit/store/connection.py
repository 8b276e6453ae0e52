"""Opening a workspace's DuckDB file: short connections, lock retries, migrations, decoding.

DuckDB allows one writing process per file, so connections are short-lived (open, do one unit
of work, close) and opening retries while another process holds the lock. Every reader returns
decoded values: :func:`decoded` turns each JSON column of a result into Python objects, so no
caller parses the store's encoding.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ..exceptions import BffkitError, DiskFullError, StoreError
from ..paths import IMAGES_DIRNAME, STORE_FILENAME
from .schema import LATEST_VERSION, MIGRATIONS, SCHEMA_VERSION_TABLE, TABLES, VIEWS

GET_VERSION = "SELECT coalesce(max(version), 0) FROM schema_version"
RECORD_VERSION = "INSERT INTO schema_version (version, note) VALUES (?, ?)"
# What DuckDB says about a damaged file (truncated, overwritten, or not a database at all)
CORRUPT_MARKERS = ("Could not read enough bytes", "Corrupt database", "corrupt", "checksum",
                   "not a valid DuckDB database", "The file is not a valid", "Failed to read database header",
                   "INTERNAL Error")
BASE_TABLES = "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
FILE_HEADER_BYTES = 3 * 4096  # DuckDB's main header and two database headers precede the blocks
TABLE_EXISTS = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"


def encode_json(value: Any) -> str:
    """How the store writes a JSON column."""
    return json.dumps(value, sort_keys=False, ensure_ascii=False)


def decode_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else None


def decoded(result: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """A query result as a DataFrame whose JSON columns hold Python objects (None for NULL)."""
    json_columns = [d[0] for d in result.description if str(d[1]) == "JSON"]
    frame = result.df()
    for column in json_columns:
        frame[column] = [decode_json(v) for v in frame[column]]
    return frame


class Connection:
    """A workspace's DuckDB file: connections, transactions, schema version and migrations.

    Construct a :class:`bffkit.store.Store` with :func:`bffkit.store.open_store`.
    """

    def __init__(self, workspace: str | Path, *, lock_timeout: float = 30.0):
        self.workspace = Path(workspace)
        self.path = self.workspace / STORE_FILENAME
        self.images_dir = self.workspace / IMAGES_DIRNAME
        self.lock_timeout = lock_timeout

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits (with backoff) while another process holds the file."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as err:
                msg = str(err)
                if "lock" not in msg.lower():
                    raise self.storage_problem(err) or StoreError(
                        f"cannot open store {self.path}: {msg.splitlines()[0]}") from None
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"store {self.path} is locked by another process for over {self.lock_timeout:g}s; "
                        "retry when it finishes") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except duckdb.Error as err:
                raise self.storage_problem(err) or StoreError(
                    f"cannot open store {self.path}: {str(err).splitlines()[0]}") from None
        try:
            yield con
        except duckdb.Error as err:
            problem = self.storage_problem(err)
            if problem is None:
                raise
            raise problem from None
        finally:
            con.close()

    def storage_problem(self, err: Exception) -> BffkitError | None:
        """A one-line error for a store file that is corrupt or a disk that is full; None otherwise."""
        text = str(err)
        if "No space left" in text or "disk is full" in text.lower():
            return DiskFullError(f"no space left on the disk holding {self.workspace}; free some space and rerun "
                                 "(everything committed so far is kept)")
        if any(marker in text for marker in CORRUPT_MARKERS):
            return self._corrupt()
        return None

    def _corrupt(self) -> StoreError:
        return StoreError(f"store {self.path} cannot be read: the file is truncated or corrupt; restore it "
                          "from a backup, or move it aside and run `bffkit init` to start a new store")

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One atomic unit of work: everything inside commits together or not at all."""
        with self.connect() as con:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    def check_intact(self) -> None:
        """Raise the corrupt-store StoreError if a table's data lies past the end of the file.

        A truncated file (a copy cut short, a disk that filled up under another tool) still opens,
        and DuckDB notices only when a query reaches a missing block, perhaps mid-run. The block
        ids the tables use are metadata, so this costs one small query per table."""
        if not self.path.is_file():
            return
        with self.connect() as con:
            block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
            tables = [r[0] for r in con.execute(BASE_TABLES).fetchall()]
            last = -1
            for table in tables:  # names come from the catalog; identifiers cannot be bound
                row = con.execute(f"SELECT max(block_id), max(list_max(additional_block_ids)) "
                                  f"FROM pragma_storage_info('{table}') WHERE persistent").fetchone()
                last = max([last, *(b for b in row if b is not None)])
        if last >= 0 and self.path.stat().st_size < FILE_HEADER_BYTES + (last + 1) * block_size:
            raise self._corrupt()

    def schema_version(self) -> int:
        with self.connect() as con:
            return self._version(con)

    @staticmethod
    def _version(con: duckdb.DuckDBPyConnection) -> int:
        if not con.execute(TABLE_EXISTS, ["schema_version"]).fetchone()[0]:
            return 0
        return int(con.execute(GET_VERSION).fetchone()[0])

    def migrate(self, target: int | None = None) -> list[int]:
        """Apply forward migrations up to `target` (default: latest); returns versions applied.

        Each version applies in its own transaction, so a failure leaves the store at the last
        complete version. Running it again applies nothing.
        """
        target = LATEST_VERSION if target is None else target
        applied: list[int] = []
        with self.connect() as con:
            con.execute(SCHEMA_VERSION_TABLE)
            current = self._version(con)
            if current > LATEST_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {current}, newer than this bffkit "
                    f"supports ({LATEST_VERSION}); upgrade bffkit")
            for version in range(current + 1, target + 1):
                con.begin()
                try:
                    for stmt in MIGRATIONS[version]:
                        con.execute(stmt)
                    con.execute(RECORD_VERSION, [version, f"bffkit migration {version}"])
                except duckdb.Error as err:
                    con.rollback()
                    raise StoreError(f"migration to schema version {version} failed: {str(err).splitlines()[0]}") from None
                con.commit()
                applied.append(version)
        return applied

    def table(self, name: str) -> pd.DataFrame:
        """A whole table or view as a DataFrame (for notebooks and reports)."""
        if name not in TABLES + VIEWS:
            raise StoreError(f"unknown table {name!r}; known: {', '.join(TABLES + VIEWS)}")
        with self.connect() as con:
            # name is checked against the fixed list above; identifiers cannot be bound
            return decoded(con.execute(f'SELECT * FROM "{name}"'))

    def table_counts(self) -> dict[str, int]:
        with self.connect() as con:
            return {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in TABLES}

    def check_writable(self) -> None:
        """Raise StoreError unless the store and images folder accept writes."""
        with self.transaction() as con:
            con.execute("CREATE TEMP TABLE _doctor_probe (x INTEGER)")
            con.execute("INSERT INTO _doctor_probe VALUES (?)", [1])
        probe = self.images_dir / f".probe-{os.getpid()}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as err:
            raise StoreError(f"images folder {self.images_dir} is not writable: {err.strerror}") from None

    def free_disk_bytes(self) -> int:
        return shutil.disk_usage(self.workspace).free
