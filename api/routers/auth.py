"""Sign-in: POST /api/auth/token (OAuth2 password flow) issues an expiring access token; GET /api/auth/me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import SessionDep, SettingsDep, SignedIn
from api.schemas.auth import AccessToken, Me
from gis.auth import tokens, users

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", summary="sign in with user name and password (form fields): an access token")
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> AccessToken:
    principal = users.authenticate(session, form.username, form.password)
    issued = tokens.issue_access_token(principal, request.app.state.signing_key, ttl_minutes=settings.token_ttl_minutes)
    return AccessToken.model_validate(issued | {"user": principal.to_dict()})


@router.get("/me", summary="who the bearer token stands for")
def me(who: SignedIn, session: SessionDep) -> Me:
    return Me.model_validate(users.get_user(session, who.name) | {"via": who.via})
