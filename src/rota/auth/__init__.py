"""Who may do what: bearer tokens and their roles (tokens.py), the table of what each
request needs (access.py), and the check every request passes through (rota.server.guard).
"""

from rota.auth.access import Access, access_for, allows
from rota.auth.tokens import Binding, Role, TokenRecord, digest_of, id_of, mint

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
