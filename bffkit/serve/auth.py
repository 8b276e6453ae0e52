"""Tokens, roles and per-token rate limits.

A token is shown once, when it is made (``bffkit users add``); the store keeps only its SHA-256.
Tokens are 256 random bits, so a fast hash is the right one: nothing to brute-force, unlike a
password. The server keeps the hashes in memory (a request never waits on the store to be let
in) and reloads them when an unknown token arrives, at most once a second, and every few
seconds in the background (a removed user is shut out within that).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ..exceptions import StoreError
from ..feedback import USER_ID_RULE, valid_user_id
from ..store import API_ROLES

TOKEN_PREFIX = "bff_"
COOKIE_NAME = "bffkit_token"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_user_name(name: str) -> str:
    if not valid_user_id(name):
        raise ValueError(f"user name {name!r}: {USER_ID_RULE}")
    return name


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: their name (their feedback's user_id), role and token hash."""

    name: str
    role: str
    key: str  # the token's hash: what rate limits count by

    def may(self, role: str) -> bool:
        return API_ROLES.index(self.role) >= API_ROLES.index(role)


class UserDirectory:
    """token hash -> (name, role), loaded from the store and kept in memory."""

    def __init__(self, store, refresh_every: float = 5.0, miss_interval: float = 1.0):
        self.store, self.refresh_every, self.miss_interval = store, refresh_every, miss_interval
        self._users: dict[str, tuple[str, str]] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        users = self.store.api_token_hashes()
        with self._lock:
            self._users, self._loaded = users, time.monotonic()

    def refresh_if_stale(self) -> None:
        if time.monotonic() - self._loaded >= self.refresh_every:
            self.refresh()

    def __len__(self) -> int:
        return len(self._users)

    def known(self, token: str) -> Caller | None:
        """The caller a token belongs to, from memory only (never waits on the store)."""
        key = hash_token(token)
        found = self._users.get(key)
        return None if found is None else Caller(found[0], found[1], key)

    def caller(self, token: str) -> Caller | None:
        """The caller a token belongs to, or None; an unknown token reloads the users first
        (at most every `miss_interval` seconds), so one added a moment ago gets in."""
        key = hash_token(token)
        found = self._users.get(key)
        if found is None and time.monotonic() - self._loaded >= self.miss_interval:
            try:
                self.refresh()  # a user added since the last load
            except StoreError:
                return None  # the store is busy: a known token still works, a new one waits
            found = self._users.get(key)
        return None if found is None else Caller(found[0], found[1], key)


class RateLimits:
    """Moving-window limits per token, in memory (one server process holds them all)."""

    def __init__(self):
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, item: RateLimitItem, key: str) -> int | None:
        """None if this call is within `item` for `key` (and counts it); else seconds to wait."""
        if self._limiter.hit(item, key):
            return None
        reset = self._limiter.get_window_stats(item, key).reset_time
        return max(1, math.ceil(reset - time.time()))
