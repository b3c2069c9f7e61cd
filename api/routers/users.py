"""Accounts and API tokens, for admins: list, create, change (role, password, disable), issue and revoke."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from api.deps import Admin, SessionDep
from gis import tokens, users

router = APIRouter(tags=["users"])
UserName = Annotated[str, Path(min_length=1, max_length=64)]


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: str = Field(description=" | ".join(users.ROLES))
    password: str | None = Field(None, min_length=users.MIN_PASSWORD, max_length=1024)
    display_name: str | None = Field(None, max_length=200)
    grids: list[str] = Field(default_factory=list, max_length=1000, description="grid codes (grid workers)")


class UserChange(BaseModel):
    role: str | None = None
    password: str | None = Field(None, min_length=users.MIN_PASSWORD, max_length=1024)
    active: bool | None = Field(None, description="false disables sign-in and every token of the user")
    display_name: str | None = Field(None, max_length=200)


class TokenRequest(BaseModel):
    name: str | None = Field(None, max_length=200, description="what the token is for, e.g. the integration")
    expires_days: int | None = Field(None, ge=1, le=3650, description="never expires when omitted")


@router.get("/api/users", summary="every account (never passwords)")
def list_users(session: SessionDep, admin: Admin) -> list[dict[str, Any]]:
    return users.list_users(session)


@router.post("/api/users", status_code=201, summary="create an account")
def create_user(body: UserCreate, session: SessionDep, admin: Admin, response: Response) -> dict[str, Any]:
    user = users.create_user(
        session,
        body.name,
        body.role,
        actor=admin.name,
        password=body.password,
        display_name=body.display_name,
        grids=body.grids,
    )
    response.headers["Location"] = f"/api/users/{quote(user['name'])}"  # names may be Chinese
    return user


@router.get("/api/users/{name}", summary="one account")
def get_user(name: UserName, session: SessionDep, admin: Admin) -> dict[str, Any]:
    return users.get_user(session, name)


@router.patch("/api/users/{name}", summary="change role, password, display name; disable or enable")
def change_user(name: UserName, body: UserChange, session: SessionDep, admin: Admin) -> dict[str, Any]:
    return users.change_user(session, name, actor=admin.name, **body.model_dump(exclude_unset=True))


@router.get("/api/users/{name}/tokens", summary="the user's API tokens (never their values)")
def list_tokens(name: UserName, session: SessionDep, admin: Admin) -> list[dict[str, Any]]:
    return tokens.list_api_tokens(session, name)


@router.post("/api/users/{name}/tokens", status_code=201, summary="issue an API token: shown once, in this answer")
def issue_token(name: UserName, session: SessionDep, admin: Admin, body: TokenRequest | None = None) -> dict[str, Any]:
    body = body or TokenRequest()
    return tokens.issue_api_token(session, name, actor=admin.name, name=body.name, expires_days=body.expires_days)


@router.delete("/api/tokens/{token_id}", summary="revoke an API token")
def revoke_token(token_id: Annotated[int, Path(ge=1)], session: SessionDep, admin: Admin) -> dict[str, Any]:
    return tokens.revoke_api_token(session, token_id, actor=admin.name)
