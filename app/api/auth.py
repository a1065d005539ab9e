"""Bearer-token authentication for the API (the session cookie is never accepted here)."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from app.models import User
from app.services import accounts

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


def error(status: int, message: str, errors: Any = None) -> ResponseReturnValue:
    return jsonify({"error": message, "errors": errors or {}}), status


def token_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = accounts.user_for_token(token.strip()) if scheme.lower() == "bearer" and token else None
        if user is None:
            response = error(401, "需要有效的访问令牌（Authorization: Bearer …）")
            return response
        g.api_user = user
        return view(*args, **kwargs)
    return cast(F, wrapped)


def api_user() -> User:
    return cast(User, g.api_user)
