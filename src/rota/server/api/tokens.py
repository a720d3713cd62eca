"""Tokens (admin only) and the dashboard's session (open: it is how one signs in).

A new token's secret is in the answer to its POST and nowhere else, ever: the store keeps
its SHA-256 digest. The dashboard signs in by POSTing a token to /session, which sets it as
an HttpOnly, SameSite=Strict cookie (Secure over HTTPS): page scripts cannot read it, other
sites' pages cannot send it, and it never appears in a URL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from rota.auth.tokens import MAX_BIND_CHARS, MAX_NAME_CHARS, Binding, Role, TokenRecord, mint
from rota.errors import Unauthenticated
from rota.server.api.fields import Moment
from rota.server.api.models import Out, errors
from rota.server.guard import COOKIE, Principal
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["tokens"])
HubDep = Annotated[Hub, Depends(hub_of)]


class TokenIn(BaseModel):
    """A token to make."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description="what it is for")
    role: Role
    binding: str | None = Field(
        None,
        max_length=MAX_BIND_CHARS,
        description="worker tokens only: name:<glob> or tag:<glob> (e.g. tag:device:*)",
    )


class TokenOut(Out):
    id: str = Field(description="12 hex digits; names the token in lists, logs and revoke")
    name: str
    role: Role
    binding: str | None
    created_at: Moment
    revoked_at: Moment | None


class NewTokenOut(Out):
    token: TokenOut
    secret: str = Field(description="the token itself: shown this once, never again")


class TokensOut(Out):
    tokens: list[TokenOut]


class SessionIn(BaseModel):
    """A token to sign the dashboard in with."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


class SessionOut(Out):
    signed_in: bool = Field(description="a token (cookie or header) or anonymous access")
    anonymous: bool = Field(description="the server lets requests without a token in")
    role: Role | None
    token_id: str | None
    name: str | None


def token_out(record: TokenRecord) -> TokenOut:
    """Return the API's view of a token (never its digest)."""
    return TokenOut(
        id=record.id,
        name=record.name,
        role=record.role,
        binding=None if record.binding is None else str(record.binding),
        created_at=record.created_at,
        revoked_at=record.revoked_at,
    )


@router.get("/tokens", summary="List tokens (admin)", response_model=TokensOut)
async def list_tokens(hub: HubDep) -> TokensOut:
    """Return every token, revoked ones too, oldest first; never a secret."""
    return TokensOut(tokens=[token_out(record) for record in await hub.store.list_tokens()])


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Make a token (admin)",
    response_model=NewTokenOut,
)
async def create_token(body: TokenIn, hub: HubDep) -> NewTokenOut:
    """Make a token; its secret is in this answer only."""
    binding = None if body.binding is None else Binding.parse(body.binding)
    secret, record = mint(
        name=body.name, role=body.role, binding=binding, now=await hub.store.now()
    )
    await hub.store.create_token(record)
    await hub.guard.reload()
    return NewTokenOut(token=token_out(record), secret=secret)


@router.delete(
    "/tokens/{token_id}",
    summary="Revoke a token (admin)",
    response_model=TokenOut,
    responses=errors(404),
)
async def revoke_token(
    token_id: Annotated[str, Path(max_length=40, description="the token's id")], hub: HubDep
) -> TokenOut:
    """Revoke the token at once: requests with it are refused, and the worker sockets and
    event streams it opened are closed (on every server within a second)."""
    record = await hub.store.revoke_token(token_id)
    await hub.guard.reload()
    return token_out(record)


@router.get("/session", summary="Who the dashboard is signed in as", response_model=SessionOut)
async def get_session(request: Request, hub: HubDep) -> SessionOut:
    """Say whether the request's token (or anonymous access) lets it in, and as what."""
    return _session(await hub.guard.identify(request.scope), anonymous=hub.guard.anonymous)


@router.post(
    "/session",
    summary="Sign the dashboard in with a token",
    response_model=SessionOut,
    responses=errors(401),
)
async def sign_in(body: SessionIn, request: Request, response: Response, hub: HubDep) -> SessionOut:
    """Check the token, and keep it in an HttpOnly, SameSite=Strict cookie."""
    token = await hub.guard.token_of(body.token)
    if token is None:
        raise Unauthenticated("that token is unknown or revoked")
    response.set_cookie(
        COOKIE,
        body.token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return _session(Principal(token, token.role), anonymous=hub.guard.anonymous)


@router.delete(
    "/session",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign the dashboard out",
    response_class=Response,
)
async def sign_out() -> Response:
    """Forget the session cookie."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _session(principal: Principal | None, *, anonymous: bool) -> SessionOut:
    token = None if principal is None else principal.token
    role = None if principal is None else principal.role
    return SessionOut(
        signed_in=principal is not None and principal.role is not None,
        anonymous=anonymous,
        role=role,
        token_id=None if token is None else token.id,
        name=None if token is None else token.name,
    )
