"""The routes the web front end needs: its page and assets, how to sign in, and the login link
that signs a browser in and lands on the page."""

import httpx

from tests.gateway_process import GatewayProcess


def test_the_page_is_served_with_a_strict_content_security_policy(
    gateway: GatewayProcess,
) -> None:
    page = httpx.get(f"{gateway.base_url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy  # no 'unsafe-inline', no other origin
    assert "img-src 'self' data: blob:" in policy
    assert "frame-ancestors 'none'" in policy
    assert '<script type="module" src="/static/app.js">' in page.text

    script = httpx.get(f"{gateway.base_url}/static/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{gateway.base_url}/static/../main.py").status_code == 404
    assert httpx.get(f"{gateway.base_url}/static/%2e%2e/main.py").status_code == 404


def test_auth_config_says_how_to_sign_in_without_signing_in(
    gateway: GatewayProcess, github_gateway: GatewayProcess
) -> None:
    assert httpx.get(f"{gateway.base_url}/auth/config").json() == {"mode": "local"}
    assert httpx.get(f"{github_gateway.base_url}/auth/config").json() == {"mode": "github"}


def test_login_link_with_next_signs_in_and_lands_on_the_page(gateway: GatewayProcess) -> None:
    with httpx.Client(base_url=gateway.base_url) as browser:
        response = browser.get("/login/local", params={"token": gateway.token, "next": "/"})
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        assert browser.cookies["github_session"] != gateway.token
        assert browser.get("/me").json()["id"] == "local"


def test_login_link_ignores_a_next_that_leaves_the_server(gateway: GatewayProcess) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = httpx.get(
            f"{gateway.base_url}/login/local", params={"token": gateway.token, "next": target}
        )
        assert response.status_code == 200, target
        assert response.json()["user"]["id"] == "local"
    wrong = httpx.get(f"{gateway.base_url}/login/local", params={"token": "nope", "next": "/"})
    assert wrong.status_code == 401
    assert "github_session" not in wrong.cookies
