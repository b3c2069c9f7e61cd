"""Sign-in answers: an OAuth2 access token, and who a token stands for."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Timestamp
from api.schemas.users import User

Via = Literal["password", "api_token", "public"]


class SignedInUser(BaseModel):
    id: int | None
    name: str
    role: str
    via: Via = Field(description="how the request signed in")


class AccessToken(BaseModel):
    """OAuth2 token response (RFC 6749 §5.1), with the user it names."""

    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds")
    expires_at: Timestamp
    user: SignedInUser


class Me(User):
    """The account a bearer token stands for."""

    via: Via = Field(description="password: an access token from sign-in; api_token: an API token")
