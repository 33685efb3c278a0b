"""Tests of the offline TrafficStars emulator, driven over real HTTP with ``requests``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_trafficstars.testing import TrafficStarsEmulator
from airflow_provider_trafficstars.testing.emulator import DEFAULT_PORT
from airflow_provider_trafficstars.testing.emulator import main as emulator_main
from tests.helpers import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "/v1/auth/token"
INFO = "/v1/auth/info"
LOGOUT = "/v1/auth/logout"
CAMPAIGNS = "/v1.1/campaigns"


@pytest.fixture
def emu() -> Iterator[TrafficStarsEmulator]:
    with TrafficStarsEmulator(api_keys=["demo-key", "other-key"]) as emulator:
        yield emulator


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def get_token(emu: TrafficStarsEmulator, session: requests.Session, key: str = "demo-key") -> str:
    response = session.post(emu.url + TOKEN, data={"grant_type": "refresh_token", "refresh_token": key}, timeout=5)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_token(response: requests.Response) -> None:
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


# -- token flow ---------------------------------------------------------------------------------------
def test_token_info_logout_flow(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    response = session.post(
        emu.url + TOKEN, data={"grant_type": "refresh_token", "refresh_token": "demo-key"}, timeout=5
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "id_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 36000
    assert len(body["access_token"]) >= 40
    assert body["id_token"].count(".") == 2 and len(body["id_token"]) >= 1900
    token = body["access_token"]

    info = session.post(emu.url + INFO, headers=bearer(token), timeout=5).json()
    assert info["access_token"] == token and info["refresh_token"] == "demo-key"
    assert info["token_type"] == "Bearer" and 35990 <= info["expires_in"] <= 36000
    emu.advance(1000)
    later = session.post(emu.url + INFO, headers=bearer(token), timeout=5).json()
    assert later["expires_in"] == pytest.approx(info["expires_in"] - 1000, abs=2)

    logout = session.get(emu.url + LOGOUT, headers=bearer(token), timeout=5)
    assert logout.status_code == 204 and logout.content == b""
    assert_invalid_token(session.post(emu.url + INFO, headers=bearer(token), timeout=5))
    assert_invalid_token(session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5))


def test_each_token_request_issues_a_new_token(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    first, second = get_token(emu, session), get_token(emu, session)
    assert first != second and emu.issued_tokens == [first, second]
    assert session.get(emu.url + CAMPAIGNS, headers=bearer(first), timeout=5).status_code == 200
    assert emu.token_requests == 2


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"json": {"grant_type": "refresh_token", "refresh_token": "demo-key"}}, 400, "invalid_request"),
        (
            {
                "data": "grant_type=refresh_token&refresh_token=demo-key",
                "headers": {"Content-Type": "text/plain"},
            },
            400,
            "invalid_request",
        ),
        ({"data": {"refresh_token": "demo-key"}}, 400, "invalid_request"),
        ({"data": {"grant_type": "password", "refresh_token": "demo-key"}}, 400, "unsupported_grant_type"),
        ({"data": {"grant_type": "refresh_token"}}, 400, "invalid_request"),
        ({"data": {"grant_type": "refresh_token", "refresh_token": "nope"}}, 401, "invalid_grant"),
    ],
    ids=["json-body", "text-plain", "no-grant", "wrong-grant", "no-refresh-token", "unknown-key"],
)
def test_token_endpoint_is_strict(
    emu: TrafficStarsEmulator, session: requests.Session, kwargs: dict[str, Any], status: int, error: str
) -> None:
    response = session.post(emu.url + TOKEN, timeout=5, **kwargs)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert emu.token_requests == 1 and emu.issued_tokens == []
    assert emu.request_log()[0].status == status


def test_bearer_endpoints_reject_bad_authorization(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}, bearer("unknown")):
        assert_invalid_token(session.get(emu.url + CAMPAIGNS, headers=headers, timeout=5))


def test_tokens_expire_on_the_emulator_clock() -> None:
    now = [1000.0]
    with TrafficStarsEmulator(token_lifetime=60, clock=lambda: now[0]) as emu, requests.Session() as s:
        token = get_token(emu, s)
        now[0] += 59
        assert s.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5).status_code == 200
        emu.advance(1)
        assert_invalid_token(s.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5))
        assert emu.request_log()[-1].at == 1060.0


def test_revoke_all_and_key_management(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    tokens = [get_token(emu, session), get_token(emu, session, "other-key")]
    emu.revoke_all()
    for token in tokens:
        assert_invalid_token(session.post(emu.url + INFO, headers=bearer(token), timeout=5))
    emu.remove_api_key("other-key")
    data = {"grant_type": "refresh_token", "refresh_token": "other-key"}
    assert session.post(emu.url + TOKEN, data=data, timeout=5).status_code == 401
    emu.add_api_key("other-key")
    assert get_token(emu, session, "other-key")


# -- fault injection ------------------------------------------------------------------------------------
def test_fail_next_with_retry_after_and_path_filter(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    token = get_token(emu, session)
    emu.fail_next(2, 429, retry_after="7", path=CAMPAIGNS)
    emu.fail_next(1, 502, body="<html>bad gateway</html>", content_type="text/html")
    # the token path does not match the first rule, so it takes the second (any-path) rule
    response = session.post(emu.url + TOKEN, data={"grant_type": "refresh_token"}, timeout=5)
    assert response.status_code == 502 and response.text == "<html>bad gateway</html>"
    assert response.headers["Content-Type"] == "text/html"
    for _ in range(2):
        response = session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5)
        assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5).status_code == 200
    assert [r.status for r in emu.request_log()] == [200, 502, 429, 429, 200]


def test_drop_next_closes_the_connection(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    token = get_token(emu, session)
    emu.drop_next(1, path=CAMPAIGNS)
    with pytest.raises(requests.ConnectionError):
        session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5)
    assert session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5).status_code == 200
    assert emu.count("GET", CAMPAIGNS) == 2 and emu.request_log()[1].status == 0


def test_latency_causes_client_timeouts(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    token = get_token(emu, session)
    emu.set_latency(60, path=CAMPAIGNS)  # a minute: only the client's timeout can end the call
    with pytest.raises(requests.Timeout):
        session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=0.5)
    assert session.post(emu.url + INFO, headers=bearer(token), timeout=5).status_code == 200  # other paths: at once
    emu.set_latency(0, path=CAMPAIGNS)
    assert session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5).status_code == 200


@pytest.mark.parametrize(
    "body", ["<html>login</html>", "not json", '{"token_type": "Bearer"}', '{"access_token": "x", "expires_in": "abc"}']
)
def test_set_token_response_overrides_until_cleared(
    emu: TrafficStarsEmulator, session: requests.Session, body: str
) -> None:
    emu.set_token_response(body, status=200, content_type="text/html")
    data = {"grant_type": "refresh_token", "refresh_token": "demo-key"}
    for _ in range(2):
        response = session.post(emu.url + TOKEN, data=data, timeout=5)
        assert response.status_code == 200 and response.text == body
    assert emu.issued_tokens == []
    emu.set_token_response(None)
    assert get_token(emu, session)
    assert emu.token_requests == 3


def test_echo_secrets_in_errors(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": "secret-key-123"}
    assert "secret-key-123" not in session.post(emu.url + TOKEN, data=data, timeout=5).text
    emu.echo_secrets_in_errors()
    assert "secret-key-123" in session.post(emu.url + TOKEN, data=data, timeout=5).text
    response = session.get(emu.url + CAMPAIGNS, headers=bearer("tok-secret-456"), timeout=5)
    assert response.status_code == 401 and "tok-secret-456" in response.text
    emu.echo_secrets_in_errors(False)
    assert "tok-secret-456" not in session.get(emu.url + CAMPAIGNS, headers=bearer("tok-secret-456")).text


def test_rate_limit_answers_429_with_retry_after(session: requests.Session) -> None:
    with TrafficStarsEmulator(rate_limit=(3, 60.0)) as emu:
        token = get_token(emu, session)
        assert session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5).status_code == 200
        assert session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5).status_code == 200
        limited = session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5)
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert session.get(emu.url + "/_emulator/stats", timeout=5).status_code == 200  # never limited
        emu.advance(61)
        assert session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5).status_code == 200


# -- routing rules -------------------------------------------------------------------------------------
def test_routing_errors(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    token = get_token(emu, session)
    json_get = session.get(
        emu.url + CAMPAIGNS, headers={**bearer(token), "Content-Type": "application/json"}, timeout=5
    )
    assert json_get.status_code == 400
    missing = session.get(emu.url + "/v1.1/nope", headers=bearer(token), timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = session.post(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"
    assert session.get(emu.url + TOKEN, timeout=5).status_code == 405
    assert session.put(emu.url + INFO, headers=bearer(token), timeout=5).status_code == 405


# -- data ------------------------------------------------------------------------------------------------
def test_campaigns_are_deterministic(session: requests.Session) -> None:
    answers = []
    for _ in range(2):
        with TrafficStarsEmulator(campaigns=5) as emu:
            answers.append(session.get(emu.url + CAMPAIGNS, headers=bearer(get_token(emu, session))).json())
    assert answers[0] == answers[1]
    campaigns = answers[0]["response"]
    assert [c["id"] for c in campaigns] == [1, 2, 3, 4, 5]
    assert [c["status"] for c in campaigns] == ["enabled", "enabled", "paused", "enabled", "enabled"]
    assert all(set(c) == {"id", "name", "status"} and isinstance(c["name"], str) for c in campaigns)


# -- control over HTTP, concurrency, lifecycle --------------------------------------------------------
def test_control_endpoints_over_http_are_not_counted(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    token = get_token(emu, session)
    control = emu.url + "/_emulator/"
    assert session.post(control + "keys", json={"add": ["k2"], "remove": ["other-key"]}).status_code == 200
    assert get_token(emu, session, "k2")
    assert session.post(control + "fail", json={"n": 1, "status": 503, "retry_after": 2, "path": CAMPAIGNS}).ok
    failed = session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5)
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "2"
    assert session.post(control + "advance", json={"seconds": 36001}).ok
    assert_invalid_token(session.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5))
    token = get_token(emu, session)
    assert session.post(control + "latency", json={"seconds": 60, "path": INFO}).ok
    with pytest.raises(requests.Timeout):
        session.post(emu.url + INFO, headers=bearer(token), timeout=0.5)
    assert session.post(control + "latency", json={"seconds": 0, "path": INFO}).ok
    assert session.post(control + "revoke").ok
    stats = session.get(control + "stats", timeout=5).json()
    assert stats == {
        "token_requests": 3,
        "answers_429": 0,
        "counts": {"GET /v1.1/campaigns": 2, "POST /v1/auth/info": 1, "POST /v1/auth/token": 3},
        "issued_tokens": 3,
        "active_tokens": 0,
        "revoked_tokens": 3,
    }
    assert emu.count() == 6 and all(not r.path.startswith("/_emulator") for r in emu.request_log())
    assert session.post(control + "advance", json={"seconds": "soon"}).status_code == 400
    assert session.get(control + "reset").status_code == 405
    assert session.post(control + "reset").ok
    assert emu.count() == 0 and emu.issued_tokens == [] and get_token(emu, session, "k2")


def test_fifty_concurrent_clients(emu: TrafficStarsEmulator) -> None:
    def one_client(i: int) -> int:
        with requests.Session() as s:
            token = get_token(emu, s)
            return s.get(emu.url + CAMPAIGNS, headers=bearer(token), timeout=5).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        assert list(pool.map(one_client, range(50))) == [200] * 50
    assert emu.token_requests == 50 and len(set(emu.issued_tokens)) == 50


def test_stop_is_idempotent_and_cuts_keep_alive_connections(session: requests.Session) -> None:
    emu = TrafficStarsEmulator().start()
    url = emu.url
    assert session.get(url + CAMPAIGNS, timeout=5).status_code == 401
    emu.stop()
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(url + CAMPAIGNS, timeout=2)
    with pytest.raises(RuntimeError):
        _ = emu.url
    with emu:  # restarting binds the same port again
        assert emu.url == url
        assert session.get(url + CAMPAIGNS, timeout=5).status_code == 401


def test_recorded_request_repr_hides_credentials(emu: TrafficStarsEmulator, session: requests.Session) -> None:
    token = get_token(emu, session)
    session.get(emu.url + CAMPAIGNS, headers=bearer(token), params={"a": "1"}, timeout=5)
    first, second = emu.request_log()
    assert b"refresh_token=demo-key" in first.body and "demo-key" not in repr(first)
    assert second.header("authorization") == f"Bearer {token}" and second.query == "a=1"
    assert token not in repr(second) and token not in repr(emu)


def test_cli_serves_until_terminated(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "airflow_provider_trafficstars.testing.emulator", "--port", "0"]
    command += ["--api-key", "cli-key", "--campaigns", "2", "--port-file", str(port_file)]
    command += ["--rate-limit", "2/60", "--no-retry-after"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        port = int(port_file.read_text())
        assert line == f"TrafficStars emulator listening on http://127.0.0.1:{port}"
        with requests.Session() as s:
            data = {"grant_type": "refresh_token", "refresh_token": "cli-key"}
            token = s.post(f"http://127.0.0.1:{port}{TOKEN}", data=data, timeout=5).json()["access_token"]
            campaigns = s.get(f"http://127.0.0.1:{port}{CAMPAIGNS}", headers=bearer(token), timeout=5)
            assert len(campaigns.json()["response"]) == 2
            limited = s.get(f"http://127.0.0.1:{port}{CAMPAIGNS}", headers=bearer(token), timeout=5)
            assert limited.status_code == 429 and "Retry-After" not in limited.headers
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "cli-key" not in stderr


def test_cli_default_port_is_not_airflows_and_a_taken_port_names_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 8080: Airflow's API server; 8793/8794: its worker and triggerer log servers; 5555: Flower.
    assert DEFAULT_PORT not in (8080, 8793, 8794, 5555) and 1024 < DEFAULT_PORT < 32768
    readme = (REPO / "README.md").read_text()
    assert "--port 8080" not in readme and "127.0.0.1:8080" not in readme
    assert f"127.0.0.1:{DEFAULT_PORT}" in readme
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as info:
            emulator_main(["--port", str(port)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1 port {port} is already in use" in err and "--port" in err
