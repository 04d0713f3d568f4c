"""Bearer-token authentication for ``/api``: each token belongs to a named user with a role."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.config import User
from hub.errors import HubError


class Forbidden(HubError):
    """The caller is known but their role does not allow this (answered 403)."""


class BearerAuth:
    """ASGI middleware: every ``/api`` request needs ``Authorization: Bearer <token>`` of a configured user."""

    def __init__(self, app: ASGIApp, users: dict[str, User], prefix: str = "/api") -> None:
        self.app = app
        self.users = list(users.values())
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let non-API traffic through; answer 401 for an API call without a valid token."""
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        user = self.user_for(request.headers.get("authorization", ""))
        if user is None:
            response = JSONResponse({"error": "a valid bearer token is required"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Bearer realm="hub"'})
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)

    def user_for(self, header: str) -> User | None:
        """The user whose token the header carries, compared in constant time against every token."""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        found = None
        for user in self.users:
            if hmac.compare_digest(user.token.encode(), token.strip().encode()):
                found = user
        return found


def require_admin(request: Request) -> User:
    """The calling user, who must be an admin (the seeds reserve connection-level syncs for admins)."""
    user: User = request.state.user
    if user.role != "admin":
        raise Forbidden(f"{user.name} is a standard user; this needs an admin")
    return user
