"""Tokens issued by the simulated Keystones.

Tokens are random (nothing to decode, as with Fernet from a client's point of
view) and remembered so the service APIs can check them: a token is valid for
its own cloud only, for one hour. Memory is bounded: past ``capacity`` the
oldest tokens are forgotten, which a client sees as an expired token (401),
as with a real Keystone after a key rotation.
"""

from __future__ import annotations

import secrets
import time


class TokenInfo:
    """What Keystone knows about one token."""

    __slots__ = ("cloud", "project_id", "methods", "issued", "expires", "audit_id",
                 "app_cred_id")

    def __init__(self, cloud: str, project_id: str | None, methods: list[str], lifetime: float,
                 app_cred_id: str | None = None) -> None:
        self.cloud = cloud
        self.project_id = project_id
        self.methods = methods
        self.issued = time.time()
        self.expires = self.issued + lifetime
        self.audit_id = secrets.token_urlsafe(16)[:22]
        self.app_cred_id = app_cred_id


class TokenStore:
    """Issued tokens, oldest forgotten first once ``capacity`` is reached."""

    def __init__(self, capacity: int = 200_000, lifetime: float = 3600.0) -> None:
        self.capacity = capacity
        self.lifetime = lifetime
        self._tokens: dict[str, TokenInfo] = {}

    def issue(self, cloud: str, project_id: str | None, methods: list[str],
              app_cred_id: str | None = None) -> tuple[str, TokenInfo]:
        while len(self._tokens) >= self.capacity:
            del self._tokens[next(iter(self._tokens))]
        token = "gAAAAA" + secrets.token_urlsafe(48)
        info = TokenInfo(cloud, project_id, methods, self.lifetime, app_cred_id)
        self._tokens[token] = info
        return token, info

    def lookup(self, token: str | None, cloud: str) -> TokenInfo | None:
        """The token's info if it is valid for ``cloud`` now, else None."""
        if not token:
            return None
        info = self._tokens.get(token)
        if info is None or info.cloud != cloud:
            return None
        if info.expires < time.time():
            del self._tokens[token]
            return None
        return info

    def __len__(self) -> int:
        return len(self._tokens)
