"""Sign-in: POST /api/auth/token (OAuth2 password flow) issues an expiring access token; POST /api/auth/sign-out
ends it; GET /api/auth/me. A sign-in naming a `device` is a long-lived device session (the field app on a phone),
listed by GET /api/auth/sessions and ended by DELETE /api/auth/sessions/{id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import SessionDep, SettingsDep, SignedIn, bearer
from api.errors import problem
from api.schemas.auth import AccessToken, Me
from api.schemas.field import DeviceSession
from gis.auth import signin, tokens, users

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=AccessToken,
    summary="sign in with user name and password (form fields): an access token",
    description="Repeated failures for one user name (from any address) make it wait: 429 with Retry-After. "
    "With `device` (a name for the phone or computer) the token is a device session: it lives "
    "GRIDMAP_DEVICE_TOKEN_TTL_DAYS (30 days by default) instead of hours, and is listed in GET /api/auth/sessions.",
)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    device: Annotated[
        str | None, Form(max_length=100, description="sign in this device for days (the field app on a phone)")
    ] = None,
) -> Any:
    try:
        principal = signin.sign_in(session, form.username, form.password)
    except signin.SignInLocked as locked:
        answer = problem(request, locked.status, locked.title, locked.detail, where=locked.where)
        answer.headers["Retry-After"] = str(locked.retry_after)
        return answer
    if isinstance(principal, signin.Refused):
        # Answered rather than raised: an error would roll back the failure just counted for the backoff.
        refused = principal.error
        answer = problem(request, refused.status, refused.title, refused.detail, where=refused.where)
        answer.headers["WWW-Authenticate"] = 'Bearer realm="gridmap"'
        return answer
    key = request.app.state.signing_key
    if device is not None:
        issued = tokens.issue_device_token(
            session, principal, key, device=device, ttl_days=settings.device_token_ttl_days
        )
    else:
        issued = tokens.issue_access_token(principal, key, ttl_minutes=settings.token_ttl_minutes)
    return AccessToken.model_validate(issued | {"user": principal.to_dict()})


@router.post(
    "/sign-out", status_code=204, summary="end this access token (or, with everywhere=true, all of the user's)"
)
def sign_out(
    request: Request,
    who: SignedIn,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer)],
    everywhere: Annotated[
        bool, Query(description="end every access token of the account (every device), not only this one")
    ] = False,
) -> Response:
    tokens.sign_out(session, who, token or "", request.app.state.signing_key, everywhere=everywhere)
    return Response(status_code=204)


@router.get("/me", summary="who the bearer token stands for")
def me(who: SignedIn, session: SessionDep) -> Me:
    return Me.model_validate(users.get_user(session, who.name) | {"via": who.via})


@router.get("/sessions", summary="the account's device sessions that still work (long-lived sign-ins of devices)")
def sessions(
    request: Request, who: SignedIn, session: SessionDep, token: Annotated[str | None, Depends(bearer)]
) -> list[DeviceSession]:
    mine = tokens.token_id(token, request.app.state.signing_key) if token and who.via == "password" else None
    return [
        DeviceSession.model_validate(found | {"current": found["jti"] == mine})
        for found in tokens.list_device_sessions(session, who)
    ]


@router.delete("/sessions/{session_id}", status_code=204, summary="end one of the account's device sessions")
def end_session(who: SignedIn, session: SessionDep, session_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Response:
    tokens.end_device_session(session, who, session_id)
    return Response(status_code=204)
