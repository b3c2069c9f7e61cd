"""Accounts and API tokens, for admins: list, create, change (role, password, disable), issue and revoke."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Response

from api.deps import Admin, SessionDep
from api.schemas.users import ApiToken, IssuedApiToken, TokenRequest, User, UserChange, UserCreate
from gis.auth import tokens, users
from gis.incidents import workers

router = APIRouter(tags=["users"])
UserName = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/api/users", summary="every account (never passwords)")
def list_users(session: SessionDep, admin: Admin) -> list[User]:
    return [User.model_validate(user) for user in users.list_users(session)]


@router.post("/api/users", status_code=201, summary="create an account")
def create_user(body: UserCreate, session: SessionDep, admin: Admin, response: Response) -> User:
    user = workers.add_user(
        session,
        body.name,
        body.role,
        actor=admin.name,
        password=body.password,
        display_name=body.display_name,
        grids=body.grids,
    )
    response.headers["Location"] = f"/api/users/{quote(user['name'])}"  # names may be Chinese
    return User.model_validate(user)


@router.get("/api/users/{name}", summary="one account")
def get_user(name: UserName, session: SessionDep, admin: Admin) -> User:
    return User.model_validate(users.get_user(session, name))


@router.patch("/api/users/{name}", summary="change role, password, display name; disable or enable")
def change_user(name: UserName, body: UserChange, session: SessionDep, admin: Admin) -> User:
    changed = users.change_user(session, name, actor=admin.name, **body.model_dump(exclude_unset=True))
    return User.model_validate(changed)


@router.get("/api/users/{name}/tokens", summary="the user's API tokens (never their values)")
def list_tokens(name: UserName, session: SessionDep, admin: Admin) -> list[ApiToken]:
    return [ApiToken.model_validate(token) for token in tokens.list_api_tokens(session, name)]


@router.post("/api/users/{name}/tokens", status_code=201, summary="issue an API token: shown once, in this answer")
def issue_token(name: UserName, session: SessionDep, admin: Admin, body: TokenRequest | None = None) -> IssuedApiToken:
    body = body or TokenRequest()
    issued = tokens.issue_api_token(session, name, actor=admin.name, name=body.name, expires_days=body.expires_days)
    return IssuedApiToken.model_validate(issued)


@router.delete("/api/tokens/{token_id}", summary="revoke an API token")
def revoke_token(token_id: Annotated[int, Path(ge=1)], session: SessionDep, admin: Admin) -> ApiToken:
    return ApiToken.model_validate(tokens.revoke_api_token(session, token_id, actor=admin.name))
