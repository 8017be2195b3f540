"""Dependencies of the routes, as ``Annotated`` aliases (tests override ``get_store``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.settings import ApiSettings
from engine.store.keys import ApiKey
from engine.store.repo import Store

_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def _caller(
    store: StoreDep,
    header: Annotated[str | None, Depends(_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    text = header or (bearer.credentials if bearer is not None else None)
    if not text:
        raise HTTPException(401, "an API key is required (X-API-Key or Authorization: Bearer)")
    key = store.keys.verify(text)
    if key is None:
        raise HTTPException(401, "the API key is not valid")
    return key


def require(role: str) -> Callable[[ApiKey], ApiKey]:
    def check(key: Annotated[ApiKey, Depends(_caller)]) -> ApiKey:
        if not key.allows(role):
            raise HTTPException(403, f"this needs the {role} role; the key has {key.role}")
        return key

    return check


AnalystDep = Annotated[ApiKey, Depends(require("analyst"))]
AdminDep = Annotated[ApiKey, Depends(require("admin"))]
