"""Bearer tokens: what one is, how a new one is made, and how it is stored (hashed).

A token's secret reads `rota_<id>_<key>`: `id` (12 hex digits) names the token in lists,
logs and `rota tokens revoke`; `key` is 32 random bytes (base64url, from `secrets`). The
store keeps only the SHA-256 digest of the whole secret (hashlib), never the secret: a token
is 256 bits of randomness, so a fast hash is the right one (a password hash such as bcrypt
guards low-entropy secrets against guessing, which a random token does not need; this is
how GitHub and PyPI keep API tokens). The secret is shown once, when it is made.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from rota.errors import InvalidInput

PREFIX: Final = "rota_"
_SECRET = re.compile(r"rota_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
MAX_NAME_CHARS: Final = 100
MAX_BIND_CHARS: Final = 200


class Role(StrEnum):
    """What a token may do (see rota.auth.access for the routes each role reaches)."""

    ADMIN = "admin"
    """Everything: jobs, schedules, workers (drain), tokens, and connecting as a worker."""
    CLIENT = "client"
    """Submit, read, cancel and retry jobs; manage schedules, reminders and calendars."""
    WORKER = "worker"
    """Connect as a worker, and nothing else; may be bound to a name or a tag."""
    READ = "read"
    """The dashboard and the API's reads."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """Which workers a worker token may connect as: a name, or a tag (shell-style globs).

    `name:<glob>` admits a worker whose name matches; `tag:<glob>` one that carries a tag
    that matches (a device carries `device:<its name>`, so `tag:device:*` admits devices).
    """

    kind: str
    """"name" or "tag"."""
    pattern: str

    @classmethod
    def parse(cls, text: str) -> Binding:
        """Read `name:<glob>` or `tag:<glob>`; InvalidInput for anything else."""
        kind, sep, pattern = text.partition(":")
        if not sep or kind not in ("name", "tag") or not pattern:
            raise InvalidInput(
                f"a binding reads name:<pattern> or tag:<pattern> (e.g. tag:device:*), "
                f"not {text[:MAX_BIND_CHARS]!r}"
            )
        if len(text) > MAX_BIND_CHARS or not text.isprintable():
            raise InvalidInput(f"a binding is printable and at most {MAX_BIND_CHARS} characters")
        return cls(kind=kind, pattern=pattern)

    def admits(self, name: str, tags: tuple[str, ...] | list[str]) -> bool:
        """Tell whether a worker of this name and tags may connect with the token."""
        if self.kind == "name":
            return fnmatch.fnmatchcase(name, self.pattern)
        return any(fnmatch.fnmatchcase(tag, self.pattern) for tag in tags)

    def targets(self, name: str, tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """Return the targets whose jobs a worker of this name and tags, connected with the
        token, may claim: its name for a name binding, else its tags that match and those
        of its tags that a matching one refines (`device` for `device:laptop`: a reminder
        for any device targets `device`). It claims no other job, untargeted ones included
        (see AcquireRequest.targets)."""
        if self.kind == "name":
            return (name,) if self.admits(name, tags) else ()
        matching = [tag for tag in tags if fnmatch.fnmatchcase(tag, self.pattern)]
        return tuple(
            tag
            for tag in tags
            if tag in matching or any(found.startswith(f"{tag}:") for found in matching)
        )

    def __str__(self) -> str:
        return f"{self.kind}:{self.pattern}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """A token as the store keeps it: everything but the secret."""

    id: str
    """12 hex digits; also the secret's second part."""
    name: str
    """What it is for, given when it was made (e.g. "ci", "laptop")."""
    role: Role
    digest: str
    """SHA-256 of the secret, 64 hex digits."""
    binding: Binding | None
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """True once the token was revoked (it then opens nothing)."""
        return self.revoked_at is not None


def bearer_header(token: str | None) -> dict[str, str]:
    """Return the `Authorization: Bearer` header clients and workers send, or {} for no token.

    Spaces and line endings around the token are dropped (a token read from a file or an env
    file often ends in one); a token with any other character that is not visible ASCII
    raises InvalidInput, whose message never holds the token (it would end up in logs).
    """
    token = (token or "").strip()
    if not token:
        return {}
    for position, char in enumerate(token, 1):
        if not ("!" <= char <= "~"):
            raise InvalidInput(
                f"the token (--token or ROTA_TOKEN) holds {char!a} at character "
                f"{position}: a token is visible ASCII only (see `rota tokens create`)"
            )
    return {"Authorization": f"Bearer {token}"}


def digest_of(secret: str) -> str:
    """Return the SHA-256 hex digest a secret is stored and looked up by."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def id_of(secret: str) -> str | None:
    """Return the token id a secret carries, or None if it is not shaped like a token.

    Safe to log: the id names the token without opening anything.
    """
    match = _SECRET.fullmatch(secret)
    return match.group(1) if match else None


def mint(
    *, name: str, role: Role, binding: Binding | None, now: datetime
) -> tuple[str, TokenRecord]:
    """Return a new token's secret and the record to store; InvalidInput for a bad name or
    a binding on a role other than worker."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise InvalidInput(f"a token's name is 1 to {MAX_NAME_CHARS} printable characters")
    if binding is not None and role is not Role.WORKER:
        raise InvalidInput("only a worker token can be bound to a name or a tag")
    token_id = secrets.token_hex(6)
    secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    record = TokenRecord(
        id=token_id, name=name, role=role, digest=digest_of(secret), binding=binding, created_at=now
    )
    return secret, record
