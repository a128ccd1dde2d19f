"""The web app's guard: token, Host and Origin checks, and the headers every answer carries."""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Only the app's own files and answers: no inline script or style, no other origin, never in a frame.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
SAFE_METHODS = {"GET", "HEAD"}


def cookie_name(port: int) -> str:
    """Cookies are shared by every port of a host: each server keeps its own."""
    return f"clusterfaces-review-{port}"


class Guard:
    """ASGI middleware: answers 403 unless the request names this server as its Host, carries the token
    (in the URL once, then in an HttpOnly SameSite=Strict cookie) and, for a change, comes from this origin
    as JSON. Every answer carries the Content-Security-Policy and no-referrer headers."""

    def __init__(self, app: ASGIApp, token: str, port: int) -> None:
        self.app = app
        self.token = token.encode()
        self.cookie = cookie_name(port)
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        refusal, from_url = self._check(scope, headers)
        if refusal:
            await _refuse(send, refusal)
            return

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                         (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY"), (b"cross-origin-resource-policy", b"same-origin")]
                if from_url:
                    extra.append((b"set-cookie", f"{self.cookie}={self.token.decode()}; Path=/; HttpOnly; "
                                                 "SameSite=Strict".encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, guarded_send)

    def _check(self, scope: Scope, headers: dict[str, str]) -> tuple[str | None, bool]:
        """(why the request is refused or None, whether the token came in the URL)."""
        if headers.get("host", "") not in self.hosts:
            return "this server answers only at 127.0.0.1 (a foreign Host header is refused)", False
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        from_url = given is not None
        if from_url:
            token = given[-1]
        else:
            cookies = SimpleCookie()
            try:
                cookies.load(headers.get("cookie", ""))
            except Exception:  # a malformed Cookie header is no token
                cookies = SimpleCookie()
            token = cookies[self.cookie].value if self.cookie in cookies else ""
        if not hmac.compare_digest(token.encode("utf-8", "replace"), self.token):
            return "open the link `clusterfaces review` printed: it carries the token", False
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin not in self.origins:
                return "a change must come from this page (cross-site request refused)", False
            if headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
                return "a change must come from this page (cross-site request refused)", False
            if headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return "a change must be sent as application/json", False
        return None, from_url


async def _refuse(send: Send, reason: str) -> None:
    body = f"403 Forbidden: {reason}\n".encode()
    await send({"type": "http.response.start", "status": 403, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), (b"referrer-policy", b"no-referrer")]})
    await send({"type": "http.response.body", "body": body})
