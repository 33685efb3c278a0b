"""The emulator's switches added for the fault suite, through its Python API and over HTTP the way another
process drives them."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator

CAMPAIGNS = "/v1.1/campaigns"
TOKEN = "/v1/auth/token"


def test_truncate_rate_limit_and_token_response_over_http(emulator: TrafficStarsEmulator, api_key: str) -> None:
    control = emulator.url + "/_emulator/"
    with requests.Session() as s:
        form = {"grant_type": "refresh_token", "refresh_token": api_key}
        token = s.post(emulator.url + TOKEN, data=form, timeout=5).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}

        assert s.post(control + "truncate", json={"n": 1, "path": CAMPAIGNS}, timeout=5).ok
        with pytest.raises(requests.exceptions.ChunkedEncodingError):  # the body stops half-way
            s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5)
        assert s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 200

        assert s.post(control + "rate_limit", json={"requests": 1, "window": 60}, timeout=5).ok
        assert s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 200
        limited = s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5)
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert s.post(control + "rate_limit", json={}, timeout=5).ok  # lifted
        assert s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 200
        assert s.post(control + "rate_limit", json={"requests": 0, "window": 60}, timeout=5).status_code == 400

        body = {"body": "<html>portal</html>", "content_type": "text/html", "status": 200}
        assert s.post(control + "token_response", json=body, timeout=5).ok
        odd = s.post(emulator.url + TOKEN, data=form, timeout=5)
        assert odd.text == "<html>portal</html>" and odd.headers["Content-Type"] == "text/html"
        assert s.post(control + "token_response", json={}, timeout=5).ok  # back to normal
        assert "access_token" in s.post(emulator.url + TOKEN, data=form, timeout=5).json()

    statuses = [r.status for r in emulator.request_log() if r.path == CAMPAIGNS]
    assert statuses == [200, 200, 200, 429, 200]  # the truncated answer is logged with its status


# -- redirect -------------------------------------------------------------------------------------------
def test_redirect_next_answers_3xx_with_location_and_no_body(emulator: TrafficStarsEmulator, api_key: str) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": api_key}
    emulator.redirect_next(1, path=TOKEN)
    with requests.Session() as s:
        moved = s.post(emulator.url + TOKEN, data=form, timeout=5, allow_redirects=False)
        assert moved.status_code == 307 and moved.headers["Location"] == "http://other.example/x"
        assert moved.content == b"" and moved.headers["Content-Length"] == "0"
        assert s.post(emulator.url + TOKEN, data=form, timeout=5, allow_redirects=False).status_code == 200
    assert emulator.issued_tokens and [r.status for r in emulator.request_log()] == [307, 200]


def test_redirect_over_http_with_status_location_and_path(emulator: TrafficStarsEmulator, api_key: str) -> None:
    control = emulator.url + "/_emulator/"
    form = {"grant_type": "refresh_token", "refresh_token": api_key}
    switch = {"n": 2, "path": CAMPAIGNS, "status": 302, "location": "https://elsewhere.example/steal"}
    with requests.Session() as s:
        assert s.post(control + "redirect", json=switch, timeout=5).ok
        token = s.post(emulator.url + TOKEN, data=form, timeout=5).json()["access_token"]  # another path
        bearer = {"Authorization": f"Bearer {token}"}
        for _ in range(2):
            moved = s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5, allow_redirects=False)
            assert moved.status_code == 302 and moved.headers["Location"] == switch["location"]
        assert s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 200
        for bad in ({"status": 200}, {"status": 400}, {"location": "http://x/\r\nX-Injected: 1"}, {"n": -1}):
            assert s.post(control + "redirect", json=bad, timeout=5).status_code == 400, bad
    assert [r.status for r in emulator.request_log()] == [200, 302, 302, 200]


# -- trickle ----------------------------------------------------------------------------------------------
def _raw_get(url: str, path: str) -> socket.socket:
    """Send a GET over a raw socket (so that the test sees each byte as it arrives)."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return sock


def _read_head(sock: socket.socket) -> tuple[dict[str, str], bytes]:
    """Read the status line and headers; return the headers and any body bytes read with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "connection closed before the headers ended"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")[1:]
    return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}, rest


def test_trickle_sends_headers_then_the_body_byte_by_byte(emulator: TrafficStarsEmulator) -> None:
    body = b"0123456789"
    emulator.fail_next(2, 503, path=CAMPAIGNS, body=body, content_type="text/plain")
    emulator.trickle(0.01, path=CAMPAIGNS)
    with requests.get(emulator.url + CAMPAIGNS, timeout=5) as whole:  # a short pause: the body arrives whole
        assert (whole.status_code, whole.content) == (503, body)

    emulator.trickle(60, path=CAMPAIGNS)  # a long one: the headers, one byte, then a pause of a minute
    with _raw_get(emulator.url, CAMPAIGNS) as sock:
        headers, first = _read_head(sock)
        assert headers["content-length"] == str(len(body))  # the real length, announced up front
        first += b"" if first else sock.recv(4096)
        assert first == b"0"
        sock.settimeout(1)
        with pytest.raises(socket.timeout):
            sock.recv(4096)  # the second byte is a minute away
    # Other paths, and control calls, are answered at once.
    assert requests.get(emulator.url + "/v1/auth/logout", timeout=5).status_code == 401
    assert requests.get(emulator.url + "/_emulator/stats", timeout=5).ok
    assert emulator.state.trickle_for(CAMPAIGNS) == 60 and emulator.state.trickle_for(TOKEN) == 0


def test_trickle_over_http_turns_on_and_off(emulator: TrafficStarsEmulator) -> None:
    control = emulator.url + "/_emulator/"
    with requests.Session() as s:
        assert s.post(control + "trickle", json={"seconds": 0.5}, timeout=5).ok  # every path
        assert emulator.state.trickle_for(CAMPAIGNS) == 0.5 and emulator.state.trickle_for(TOKEN) == 0.5
        assert s.post(control + "trickle", json={"seconds": 2, "path": TOKEN}, timeout=5).ok
        assert emulator.state.trickle_for(TOKEN) == 2 and emulator.state.trickle_for(CAMPAIGNS) == 0.5
        assert s.post(control + "trickle", json={"seconds": 0}, timeout=5).ok
        assert s.post(control + "trickle", json={"seconds": 0, "path": TOKEN}, timeout=5).ok
        assert emulator.state.trickle_for(TOKEN) == 0
        assert s.get(emulator.url + CAMPAIGNS, timeout=5).status_code == 401  # answered at once again
        assert s.post(control + "trickle", json={"seconds": -1}, timeout=5).status_code == 400
        assert s.post(control + "trickle", json={"seconds": "slow"}, timeout=5).status_code == 400
    emulator.trickle(1)
    emulator.reset()
    assert emulator.state.trickle_for(CAMPAIGNS) == 0


# -- per-path latency ------------------------------------------------------------------------------------
def test_latency_over_http_per_path_and_global(emulator: TrafficStarsEmulator, api_key: str) -> None:
    control = emulator.url + "/_emulator/"
    form = {"grant_type": "refresh_token", "refresh_token": api_key}
    with requests.Session() as s:
        assert s.post(control + "latency", json={"seconds": 60, "path": CAMPAIGNS}, timeout=5).ok
        token = s.post(emulator.url + TOKEN, data=form, timeout=5).json()["access_token"]  # not delayed
        bearer = {"Authorization": f"Bearer {token}"}
        with pytest.raises(requests.Timeout):
            s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=0.5)  # a minute late: the client gives up
        assert emulator.state.latency_for(CAMPAIGNS) == 60 and emulator.state.latency_for(TOKEN) == 0
        assert s.post(control + "latency", json={"seconds": 3, "path": None}, timeout=5).ok  # every path
        # ... except one with its own setting
        assert emulator.state.latency_for(TOKEN) == 3 and emulator.state.latency_for(CAMPAIGNS) == 60
        assert s.post(control + "latency", json={"seconds": 0}, timeout=5).ok
        assert s.post(control + "latency", json={"seconds": 0, "path": CAMPAIGNS}, timeout=5).ok
        with requests.Session() as fresh:  # the first connection is still held by the delayed call
            assert fresh.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 200
        nan = s.post(control + "latency", data='{"seconds": NaN}', timeout=5)  # Python's json reads NaN
        assert nan.status_code == 400 and "finite" in nan.json()["error_description"]


def test_latency_and_trickle_waits_end_when_the_emulator_stops(api_key: str) -> None:
    emu = TrafficStarsEmulator(api_keys=[api_key]).start()
    try:
        emu.set_latency(60, path=CAMPAIGNS)
        emu.fail_next(1, 503, path=TOKEN, body=b"0123456789")
        emu.trickle(60, path=TOKEN)
        before = set(threading.enumerate())
        delayed = _raw_get(emu.url, CAMPAIGNS)
        trickled = _raw_get(emu.url, TOKEN)
        _read_head(trickled)  # its handler now pauses before the second byte
        for _ in range(500):  # the delayed call has arrived (counted before the wait): at most 5 s
            if emu.count("GET", CAMPAIGNS):
                break
            threading.Event().wait(0.01)
        handlers = [t for t in set(threading.enumerate()) - before if t.is_alive()]
        assert len(handlers) == 2 and emu.count("GET", CAMPAIGNS) == 1
    finally:
        emu.stop()
    for thread in handlers:
        thread.join(timeout=10)  # far less than the minute each would otherwise wait
    assert not any(t.is_alive() for t in handlers)
    delayed.close()
    trickled.close()


# -- a rate limit without Retry-After, and an endpoint the key may not use ------------------------------------
def test_rate_limit_without_retry_after_in_python_and_over_http(emulator: TrafficStarsEmulator, api_key: str) -> None:
    control = emulator.url + "/_emulator/"
    form = {"grant_type": "refresh_token", "refresh_token": api_key}
    with requests.Session() as s:
        token = s.post(emulator.url + TOKEN, data=form, timeout=5).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        emulator.set_rate_limit((1, 60), retry_after=False)
        assert s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 200
        limited = s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5)
        assert limited.status_code == 429 and "Retry-After" not in limited.headers
        assert limited.json()["error"] == "rate_limited"

        switch = {"requests": 1, "window": 60, "retry_after": True}
        assert s.post(control + "rate_limit", json=switch, timeout=5).ok  # a new limit: an empty window
        assert s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 200
        assert 1 <= int(s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).headers["Retry-After"]) <= 60
        switch["retry_after"] = False
        assert s.post(control + "rate_limit", json=switch, timeout=5).ok
        assert s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 200
        assert "Retry-After" not in s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).headers
        bad = s.post(control + "rate_limit", json={"requests": 1, "window": 60, "retry_after": "no"}, timeout=5)
        assert bad.status_code == 400


def test_forbid_answers_401_to_valid_tokens_on_one_path_only(emulator: TrafficStarsEmulator, api_key: str) -> None:
    control = emulator.url + "/_emulator/"
    form = {"grant_type": "refresh_token", "refresh_token": api_key}
    report = "/v1.1/advertiser/custom/report/by-day?date_from=2026-01-01&date_to=2026-01-01"
    with requests.Session() as s:
        token = s.post(emulator.url + TOKEN, data=form, timeout=5).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        emulator.forbid(CAMPAIGNS)
        refused = s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5)
        assert refused.status_code == 401 and refused.json()["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
        assert s.get(emulator.url + report, headers=bearer, timeout=5).status_code == 200  # the token is valid
        unknown = s.get(emulator.url + CAMPAIGNS, headers={"Authorization": "Bearer nope"}, timeout=5)
        assert unknown.json()["error"] == "invalid_token"  # a bad token is still told so

        assert s.post(control + "forbid", json={"path": CAMPAIGNS, "status": None}, timeout=5).ok  # lifted
        assert s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 200
        assert s.post(control + "forbid", json={"path": CAMPAIGNS, "status": 403}, timeout=5).ok
        assert s.get(emulator.url + CAMPAIGNS, headers=bearer, timeout=5).status_code == 403
        assert s.post(control + "forbid", json={"status": 401}, timeout=5).status_code == 400  # which path?
        assert s.post(control + "forbid", json={"path": CAMPAIGNS, "status": 500}, timeout=5).status_code == 400
    emulator.reset()
    assert emulator.state.forbidden_status(CAMPAIGNS) is None
