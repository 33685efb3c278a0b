"""Fault injection, part 1: a connection that is missing or malformed fails before any HTTP call."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowNotFoundException

from airflow_provider_trafficstars.exceptions import TrafficStarsAuthError, TrafficStarsConfigError
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator

pytestmark = pytest.mark.integration


def test_unknown_connection_id_is_airflows_not_found_error_naming_it(
    airflow_db: Path, emulator: TrafficStarsEmulator
) -> None:
    hook = TrafficStarsHook("trafficstars_nowhere_42")
    with pytest.raises(AirflowNotFoundException) as info:
        hook.request("GET", "/v1.1/campaigns")
    assert "trafficstars_nowhere_42" in str(info.value)
    assert emulator.count() == 0


@pytest.mark.parametrize("password", ["", "   ", "\t\n"])
def test_blank_api_key_is_an_auth_error_before_any_http_call(
    emulator: TrafficStarsEmulator, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (A connection with no password field at all: tests/hooks/test_hook.py.)
    conn = {"conn_type": "trafficstars", "host": emulator.url, "password": password}
    monkeypatch.setenv("AIRFLOW_CONN_TRAFFICSTARS_DEFAULT", json.dumps(conn))
    with pytest.raises(TrafficStarsAuthError) as info:
        TrafficStarsHook().request("GET", "/v1.1/campaigns")
    assert info.value.reason == "missing_api_key"
    # The row asks for guidance: the message names the connection and the field to fill in.
    assert "'trafficstars_default'" in str(info.value) and "password field" in str(info.value)
    assert emulator.count() == 0


@pytest.mark.parametrize(
    "host",
    [
        "http://",  # scheme only: no host at all
        "https:///v1",  # a path but no host
        "ftp://api.trafficstars.com",  # not http(s)
        "file:///etc/passwd",
        "https://:8443",  # a port but no host
        "http://[::1",  # an unclosed IPv6 bracket
        "https://api.trafficstars .com",  # whitespace inside
        "https://api.trafficstars.com:notaport",
        "https://user:secret@api.trafficstars.com",  # credentials in the URL
        "https://api.trafficstars.com/?x=1",
    ],
)
def test_malformed_host_is_a_config_error_naming_the_connection(
    make_hook: Callable[..., TrafficStarsHook], emulator: TrafficStarsEmulator, host: str
) -> None:
    hook = make_hook(url=host)
    with pytest.raises(TrafficStarsConfigError) as info:
        hook.get_token()
    assert "'trafficstars_default'" in str(info.value)
    assert "secret" not in str(info.value)
    assert emulator.count() == 0
