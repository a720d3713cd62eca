"""Who may do what: bearer tokens and their roles (tokens.py), the table of what each
request needs (access.py), and the check every request passes through (rota.server.guard).

The names below load on first use (PEP 562), so that `import rota.auth.tokens` (the command
line's `rota tokens`) does not load access.py and the wire protocol it names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rota.lazy_names import lazy_names

if TYPE_CHECKING:
    from rota.auth.access import Access, access_for, allows
    from rota.auth.tokens import Binding, Role, TokenRecord, digest_of, id_of, mint

_WHERE = {
    "Access": "rota.auth.access",
    "access_for": "rota.auth.access",
    "allows": "rota.auth.access",
    "Binding": "rota.auth.tokens",
    "Role": "rota.auth.tokens",
    "TokenRecord": "rota.auth.tokens",
    "digest_of": "rota.auth.tokens",
    "id_of": "rota.auth.tokens",
    "mint": "rota.auth.tokens",
}

__all__ = [
    "Access",
    "Binding",
    "Role",
    "TokenRecord",
    "access_for",
    "allows",
    "digest_of",
    "id_of",
    "mint",
]


__getattr__, __dir__ = lazy_names(globals(), _WHERE)
