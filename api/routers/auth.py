"""Sign-in: POST /api/auth/token (OAuth2 password flow) issues an expiring access token; POST /api/auth/sign-out
ends it; GET /api/auth/me."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import SessionDep, SettingsDep, SignedIn, bearer
from api.errors import problem
from api.schemas.auth import AccessToken, Me
from gis.auth import signin, tokens, users

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _wants_chinese(request: Request) -> bool:
    return request.headers.get("accept-language", "").strip().lower().startswith("zh")


@router.post(
    "/token",
    response_model=AccessToken,
    summary="sign in with user name and password (form fields): an access token",
    description="Repeated failures for one user name (from any address) make it wait: 429 with Retry-After.",
)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Any:
    try:
        principal = signin.sign_in(session, form.username, form.password)
    except signin.SignInLocked as locked:
        detail = locked.detail_zh if _wants_chinese(request) else locked.detail
        answer = problem(request, locked.status, locked.title, detail, where=locked.where)
        answer.headers["Retry-After"] = str(locked.retry_after)
        return answer
    if isinstance(principal, signin.Refused):
        # Answered rather than raised: an error would roll back the failure just counted for the backoff.
        refused = principal.error
        answer = problem(request, refused.status, refused.title, refused.detail, where=refused.where)
        answer.headers["WWW-Authenticate"] = 'Bearer realm="gridmap"'
        return answer
    issued = tokens.issue_access_token(principal, request.app.state.signing_key, ttl_minutes=settings.token_ttl_minutes)
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
