"""Safe by default: loopback unless a token guards the server, the token on every request,
loopback host names only without one, actions only with the token and a CSRF token."""

from __future__ import annotations

import http.client
import re
import urllib.parse

import pytest

import flightlog
from flightlog import cli
from flightlog.errors import ConfigurationError
from flightlog.web import serve
from flightlog.web.security import check_bind, csrf_token

from .conftest import Server

pytestmark = pytest.mark.timeout(60)
TOKEN = "s3cret-token-123"


def request(
    server: Server, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
    body: str | None = None,
) -> tuple[int, dict[str, str], str]:  # fmt: skip
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_a_non_loopback_bind_without_token_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigurationError, match=r"serve on '0\.0\.0\.0' without a token"):
        check_bind("0.0.0.0", None)
    check_bind("127.0.0.1", None)
    check_bind("localhost", None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(ConfigurationError, match="at least 8 characters"):
        check_bind("0.0.0.0", "short")
    with flightlog.open("memory://") as fl, pytest.raises(ConfigurationError):
        serve(fl, host="0.0.0.0", port=0)
    status = cli.main(["ui", "--url", "memory://", "--host", "0.0.0.0", "--port", "0"])
    assert status == 6
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "without a token" in error


def test_token_is_required_on_every_request(sqlite_url: str) -> None:
    with flightlog.open(sqlite_url) as fl, Server(fl, token=TOKEN) as server:
        for path in ("/", "/api/runs", "/static/app.js", "/api/runs/x/timeline", "/metrics"):
            assert request(server, path)[0] == 401
            assert request(server, path, headers={"Authorization": "Bearer wrong-token"})[0] == 401
        assert request(server, "/", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert (
            request(server, "/api/runs", headers={"Cookie": f"flightlog_token={TOKEN}"})[0] == 200
        )
        status, headers, _ = request(server, f"/?token={TOKEN}&status=FAILED")
        assert status == 303 and headers["location"] == "/?status=FAILED"
        assert f"flightlog_token={TOKEN}" in headers["set-cookie"]
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]


def test_without_token_only_loopback_host_names_are_served(sqlite_url: str) -> None:
    with flightlog.open(sqlite_url) as fl, Server(fl) as server:
        status, headers, _ = request(server, "/")
        assert status == 200
        assert "script-src 'self'" in headers["content-security-policy"]
        assert request(server, "/", headers={"Host": "evil.example:80"})[0] == 421
        assert request(server, "/", headers={"Host": f"localhost:{server.port}"})[0] == 200


def record_failed(fl: flightlog.Flightlog) -> None:
    @fl.task
    def boom() -> None:
        raise ValueError("no")

    @fl.workflow
    def flow() -> None:
        boom()

    with pytest.raises(ValueError):
        flow.run(run_id="failed")


def test_actions_need_the_token_and_the_csrf_token(sqlite_url: str) -> None:
    with flightlog.open(sqlite_url) as fl:
        record_failed(fl)
        with Server(fl) as server:  # read-only: no forms, and posting refuses
            assert "csrf" not in request(server, "/runs/failed")[2]
            assert request(server, "/runs/failed/resume", method="POST", body="")[0] == 403
        with Server(fl, token=TOKEN) as server:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            page = request(server, "/runs/failed", headers=auth)[2]
            found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
            assert found is not None and found.group(1) == csrf_token(TOKEN)
            form = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
            bad = urllib.parse.urlencode({"csrf": "0" * 64})
            assert request(server, "/runs/failed/cancel", method="POST", headers=form,
                           body=bad)[0] == 400  # fmt: skip
            good = urllib.parse.urlencode({"csrf": found.group(1)})
            foreign = {**form, "Origin": "http://evil.example"}
            assert request(server, "/runs/failed/cancel", method="POST", headers=foreign,
                           body=good)[0] == 400  # fmt: skip
            # A FAILED run cannot be canceled: the API's ConflictError, shown as 409.
            status, _, text = request(server, "/runs/failed/cancel", method="POST", headers=form,
                                      body=good)  # fmt: skip
            assert status == 409 and "FAILED" in text
