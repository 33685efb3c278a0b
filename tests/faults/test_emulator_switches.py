"""The emulator's switches added for the fault suite, driven over HTTP the way another process would."""

from __future__ import annotations

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
