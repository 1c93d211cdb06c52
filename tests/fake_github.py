"""A fake GitHub for tests: a real HTTP server on a loopback port speaking GitHub's OAuth web flow
(authorize, access_token with PKCE) and the API calls sign-in makes (/user, org memberships).

Like GitHub, authorize sends the browser straight back to redirect_uri with a code and the same
state (or with error=access_denied); which user "approves" is chosen by the test. The API lives
under /api/v3, as on GitHub Enterprise, so GITHUB_API_URL with a path is exercised too.
"""

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENT_ID = "Iv1.fake-client-id"
CLIENT_SECRET = "fake-client-secret-" + "7" * 20
API_PREFIX = "/api/v3"


@dataclass
class FakeUser:
    id: int
    login: str
    name: str
    orgs: set[str] = field(default_factory=set)

    def profile(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "name": self.name,
            "avatar_url": f"https://avatars.example/u/{self.id}",
            "type": "User",
        }


def _default_users() -> dict[int, FakeUser]:
    users = [
        FakeUser(1001, "alice", "Alice Liddell"),
        FakeUser(1002, "bob", "Bob Builder", orgs={"acme"}),
        FakeUser(1003, "carol", "Carol Danvers"),
        FakeUser(1004, "mallory", "Mallory Malicious", orgs={"evil-corp"}),
    ]
    return {user.id: user for user in users}


@dataclass
class _Grant:
    user_id: int
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None


class FakeGitHub:
    """`host` is the address it listens on: loopback unless a gateway in a container must reach
    it too (tests/containers)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self.reset()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self.api_url = f"{self.url}{API_PREFIX}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def reset(self) -> None:
        """Back to the four default users, nobody chosen to sign in, nothing issued."""
        with self._lock:
            self.users = _default_users()
            self.approving: int | None = None
            self.deny = False
            self.codes: dict[str, _Grant] = {}
            self.tokens: dict[str, _Grant] = {}
            self.authorize_requests: list[dict[str, str]] = []
            self.token_requests: list[dict[str, str]] = []

    def user(self, login: str) -> FakeUser:
        return next(u for u in self.users.values() if u.login == login)

    def approve_as(self, login: str) -> None:
        """The next visits to authorize sign in as this user."""
        self.approving = self.user(login).id
        self.deny = False

    def rename(self, login: str, new_login: str) -> None:
        self.user(login).login = new_login

    def start(self) -> "FakeGitHub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # The HTTP side. Each handler returns (status, headers, body).

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or not redirect_uri:
            return 404, {"content-type": "text/html"}, b"<h1>404: unknown OAuth app</h1>"
        back: dict[str, str] = {}
        if self.deny:
            back["error"] = "access_denied"
            back["error_description"] = "The user has denied your application access."
        elif self.approving is None:
            return 500, {"content-type": "text/plain"}, b"the test chose nobody (approve_as)"
        else:
            code = secrets.token_hex(10)
            self.codes[code] = _Grant(
                self.approving,
                redirect_uri,
                query.get("scope", ""),
                query.get("code_challenge"),
                query.get("code_challenge_method"),
            )
            back["code"] = code
        if "state" in query:
            back["state"] = query["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {"location": f"{redirect_uri}{separator}{urlencode(back)}"}, b""

    def _access_token(self, form: dict[str, str]) -> dict[str, Any]:
        self.token_requests.append(form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _oauth_error("incorrect_client_credentials", "The client_id and/or secret.")
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None:
            return _oauth_error("bad_verification_code", "The code is incorrect or expired.")
        if form.get("redirect_uri") and form["redirect_uri"] != grant.redirect_uri:
            return _oauth_error("redirect_uri_mismatch", "The redirect_uri does not match.")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if grant.code_challenge_method != "S256" or expected != grant.code_challenge:
                return _oauth_error("invalid_grant", "The code_verifier does not match.")
        token = "gho_" + secrets.token_hex(18)
        self.tokens[token] = grant
        return {"access_token": token, "token_type": "bearer", "scope": grant.scope}

    def _api(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        scheme, _, token = authorization.partition(" ")
        grant = self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        if grant is None:
            return 401, {"message": "Bad credentials"}
        user = self.users[grant.user_id]
        if path == "/user":
            return 200, user.profile()
        prefix = "/user/memberships/orgs/"
        if path.startswith(prefix):
            org = path.removeprefix(prefix)
            if "read:org" not in grant.scope.split():
                return 403, {"message": "You need the read:org scope"}
            if org not in user.orgs:
                return 404, {"message": "Not Found"}
            return 200, {"state": "active", "role": "member", "organization": {"login": org}}
        return 404, {"message": "Not Found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                self._send(
                    status, {"content-type": "application/json"}, json.dumps(payload).encode()
                )

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with fake._lock:
                    if parts.path == "/login/oauth/authorize":
                        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                        self._send(*fake._authorize(query))
                    elif parts.path.startswith(API_PREFIX):
                        auth = self.headers.get("authorization", "")
                        self._json(*fake._api(parts.path.removeprefix(API_PREFIX), auth))
                    else:
                        self._json(404, {"message": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode()
                if urlsplit(self.path).path != "/login/oauth/access_token":
                    self._json(404, {"message": "Not Found"})
                    return
                form = {k: v[0] for k, v in parse_qs(body).items()}
                with fake._lock:
                    answer = fake._access_token(form)
                # GitHub answers form-encoded unless JSON is asked for, and errors with 200.
                if "application/json" in self.headers.get("accept", ""):
                    self._json(200, answer)
                else:
                    encoded = urlencode(answer).encode()
                    self._send(200, {"content-type": "application/x-www-form-urlencoded"}, encoded)

        return Handler


def _oauth_error(error: str, description: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": description,
        "error_uri": "https://docs.github.com/apps/troubleshooting-oauth-app-access-token-request-errors",
    }
