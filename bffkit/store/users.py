"""The people `bffkit serve` knows: a name, a role and the SHA-256 of their token (never the token)."""

from __future__ import annotations

from ..exceptions import BffkitError
from .connection import Connection
from .schema import API_ROLES

INSERT_USER = "INSERT INTO api_users (name, role, token_hash) VALUES (?, ?, ?)"
SET_TOKEN = "UPDATE api_users SET token_hash = ?, role = coalesce(?, role) WHERE name = ?"
DELETE_USER = "DELETE FROM api_users WHERE name = ?"
SELECT_USERS = "SELECT name, role, created_at FROM api_users ORDER BY name"
SELECT_HASHES = "SELECT token_hash, name, role FROM api_users"
USER_EXISTS = "SELECT count(*) FROM api_users WHERE name = ?"


class UsersTables(Connection):
    """The store's methods for API users and their token hashes."""

    def add_api_user(self, name: str, role: str, token_hash: str) -> None:
        if role not in API_ROLES:
            raise BffkitError(f"role={role!r}: must be one of {', '.join(API_ROLES)}")
        with self.transaction() as con:
            if con.execute(USER_EXISTS, [name]).fetchone()[0]:
                raise BffkitError(f"user {name!r} exists; `bffkit users token {name}` gives them a new token")
            con.execute(INSERT_USER, [name, role, token_hash])

    def set_api_token(self, name: str, token_hash: str, role: str | None = None) -> None:
        """Replace a user's token (the old one stops working), and their role if given."""
        with self.transaction() as con:
            if not con.execute(USER_EXISTS, [name]).fetchone()[0]:
                raise BffkitError(f"no user {name!r}; add them with `bffkit users add {name}`")
            con.execute(SET_TOKEN, [token_hash, role, name])

    def remove_api_user(self, name: str) -> bool:
        with self.transaction() as con:
            return int(con.execute(DELETE_USER, [name]).fetchone()[0]) > 0

    def api_users(self) -> list[dict]:
        with self.connect() as con:
            return [{"name": n, "role": r, "created_at": str(c)} for n, r, c in con.execute(SELECT_USERS).fetchall()]

    def api_token_hashes(self) -> dict[str, tuple[str, str]]:
        """token hash -> (name, role) of every user."""
        with self.connect() as con:
            return {h: (n, r) for h, n, r in con.execute(SELECT_HASHES).fetchall()}
