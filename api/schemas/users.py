"""Accounts and API tokens, for admins: never a password hash, never a token's value after it was issued."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import Timestamp
from gis.auth.users import MAX_DISPLAY_NAME, MIN_PASSWORD, ROLES


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: str = Field(description=" | ".join(ROLES))
    password: str | None = Field(default=None, min_length=MIN_PASSWORD, max_length=1024)
    display_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_DISPLAY_NAME,
        description="what the public sees instead of the login (required for grid workers; else the role's label "
        "and the id)",
    )
    grids: list[str] = Field(default_factory=list, max_length=1000, description="grid codes (grid workers)")


class UserChange(BaseModel):
    role: str | None = None
    password: str | None = Field(
        default=None, min_length=MIN_PASSWORD, max_length=1024, description="ends the user's access tokens"
    )
    active: bool | None = Field(
        default=None,
        description="false disables sign-in and every token of the user (API tokens for good); a change either way "
        "ends the user's access tokens",
    )
    display_name: str | None = Field(default=None, min_length=1, max_length=MAX_DISPLAY_NAME)


class TokenRequest(BaseModel):
    name: str | None = Field(default=None, max_length=200, description="what the token is for, e.g. the integration")
    expires_days: int | None = Field(default=None, ge=1, le=3650, description="never expires when omitted")


class User(BaseModel):
    """An account as admins see it."""

    id: int
    name: str = Field(description="the login: staff answers only")
    display_name: str = Field(description="what public answers name the account by")
    role: str = Field(description=" | ".join(ROLES))
    active: bool = Field(description="false: cannot sign in, and its tokens do not work")
    created_at: Timestamp | None
    has_password: bool = Field(description="false: cannot sign in with a password until one is set")
    grids: list[str] = Field(description="codes of the grid worker's grids in the current plan")


class ApiToken(BaseModel):
    """An API token, without its value."""

    id: int
    user: str
    name: str | None = Field(description="what the token is for")
    prefix: str = Field(description="the token's first characters, to recognise it")
    created_at: Timestamp
    created_by: str | None
    expires_at: Timestamp | None
    last_used_at: Timestamp | None = Field(description="to the minute")
    revoked_at: Timestamp | None


class IssuedApiToken(ApiToken):
    """A token just issued: the only answer that ever holds its value."""

    token: str = Field(description="send as `Authorization: Bearer …`; shown once")
