"""No-leak proofs: the API key, access tokens, refresh tokens and id tokens never appear in DEBUG logs
(our own, urllib3's and requests'), captured stdout/stderr, task log files, exception messages and full
tracebacks (chained causes included), XCom values, rendered template fields, or ``repr()``/``str()`` of
hook, client, config, token and cache. Tokens are registered with Airflow's secrets masker as soon as they
are obtained or loaded.

Every proof searches captured text for the actual secret values, and checks that the text it searched is
not empty of the thing that could leak (e.g. urllib3 request lines really were logged).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_trafficstars.exceptions import TrafficStarsError
from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook
from airflow_provider_trafficstars.testing import _http as emulator_http
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import secrets_masker_functions
from tests.helpers import (
    TEST_DAGS,
    TOKEN_VAR,
    age_token_variable,
    assert_no_secret,
    conn_json,
    install_dag,
    new_api_key,
    run_rendered_fields,
    run_traces,
    run_xcoms,
    task_states,
    variable,
)

pytestmark = pytest.mark.integration
CONN_ENV = "AIRFLOW_CONN_TRAFFICSTARS_DEFAULT"
CAMPAIGNS = "/v1.1/campaigns"
REPORT = "/v1.1/advertiser/custom/report/by-day"


@pytest.fixture
def id_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every id_token the emulator hands out (it keeps none itself), so the proofs can search for them."""
    seen: list[str] = []
    real = emulator_http.fake_id_token

    def recording(access_token: str, record: object) -> str:
        value = real(access_token, record)  # type: ignore[arg-type]
        seen.append(value)
        return value

    monkeypatch.setattr(emulator_http, "fake_id_token", recording)
    return seen


@pytest.fixture
def hook(
    airflow_db: Path, clean_variables: None, emulator: TrafficStarsEmulator, api_key: str, monkeypatch
) -> TrafficStarsHook:
    # rate_limit out of reach: a process's first window is a ramp, and these waits do not move the budget's clock.
    monkeypatch.setenv(CONN_ENV, conn_json(emulator.url, api_key, max_retries=1, timeout=2, rate_limit=1000))
    return TrafficStarsHook(sleep=lambda _s: None)


def all_secrets(emulator: TrafficStarsEmulator, api_key: str, id_tokens: list[str], *more: str) -> list[str]:
    secrets = [api_key, *emulator.issued_tokens, *id_tokens, *more]
    assert len(secrets) >= 3, "no token was issued: the search would prove nothing"
    return secrets


def full_text(exc: BaseException) -> str:
    """The exception as a user could ever see it: message, repr, attributes and the whole traceback of
    every chained exception, including contexts Python hides with ``raise ... from None``."""
    parts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts.extend(traceback.format_exception(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        todo += [current.__cause__, current.__context__]
    return "\n".join(parts)


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    records = [f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records]
    return caplog.text + "\n".join(records)


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    for name in (None, "urllib3", "requests", "airflow_provider_trafficstars"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


# -- logs -----------------------------------------------------------------------------------------------
def test_debug_logs_of_a_whole_session_with_faults_hold_no_secret(
    hook: TrafficStarsHook,
    emulator: TrafficStarsEmulator,
    api_key: str,
    id_tokens: list[str],
    debug_logging: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    hook.get_token()
    info = hook.get_session_info()
    hook.request("GET", CAMPAIGNS, params={"status": ["enabled", "paused"], "page": 1})
    hook.request("GET", REPORT, params={"date_from": "2026-01-01", "date_to": "2026-01-03", "campaign_id": [1, 2]})
    emulator.fail_next(1, 503, path=CAMPAIGNS)  # a retry, logged as a warning
    hook.request("GET", CAMPAIGNS)
    age_token_variable()  # an hour old when revoked: a 401, a refresh and a retry
    emulator.revoke_all()
    hook.request("GET", CAMPAIGNS)
    emulator.echo_secrets_in_errors()
    with pytest.raises(TrafficStarsError):
        hook.request("GET", "/v1.1/no-such-resource")
    hook.logout()
    out, err = capfd.readouterr()
    text = log_text(debug_logging) + out + err

    assert info["refresh_token"] == api_key  # the session info holds the key: it must not reach a log
    assert_no_secret(text, *all_secrets(emulator, api_key, id_tokens))
    # Not vacuous: urllib3 did log its request lines, query strings included.
    request_lines = [r.getMessage() for r in debug_logging.records if r.name.startswith("urllib3")]
    assert any("GET /v1.1/campaigns?status%5B%5D=enabled" in line for line in request_lines), request_lines[:5]
    assert any("POST /v1/auth/token" in line for line in request_lines)


def test_no_secret_ever_travels_in_a_url(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, api_key: str, id_tokens: list[str]
) -> None:
    hook.get_session_info()
    hook.request("GET", CAMPAIGNS, params={"status": ["enabled"]})
    hook.request("GET", REPORT, params={"date_from": "2026-01-01", "date_to": "2026-01-01"})
    hook.logout()
    secrets = all_secrets(emulator, api_key, id_tokens)
    log = emulator.request_log()
    assert len(log) == 5
    for entry in log:
        assert_no_secret(entry.path + "?" + entry.query, *secrets)
    token_requests = [e for e in log if e.path == "/v1/auth/token"]
    assert all(e.method == "POST" and api_key.encode() in e.body for e in token_requests)  # the key: in the body


# -- exceptions -----------------------------------------------------------------------------------------
def collect_errors(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, monkeypatch: pytest.MonkeyPatch, wrong_key: str
) -> list[TrafficStarsError]:
    errors: list[TrafficStarsError] = []

    def expect(call: Callable[[], object]) -> None:
        try:
            call()
        except TrafficStarsError as exc:
            errors.append(exc)
        else:
            raise AssertionError("the fault did not raise")

    emulator.echo_secrets_in_errors()  # every error answer below echoes the credentials it was sent
    hook.get_token()
    expect(lambda: hook.request("GET", "/v1.1/no-such-resource"))  # 404
    emulator.fail_next(10, 503, path=CAMPAIGNS)
    expect(lambda: hook.request("GET", CAMPAIGNS))  # 5xx after retries
    emulator.reset()
    emulator.echo_secrets_in_errors()
    emulator.fail_next(2, 401, path=CAMPAIGNS)
    expect(lambda: hook.request("GET", CAMPAIGNS))  # a second 401
    emulator.drop_next(10, path=CAMPAIGNS)
    expect(lambda: hook.request("GET", CAMPAIGNS))  # connection reset
    emulator.fail_next(10, 500, path="/v1/auth/token")
    expect(lambda: hook.get_token(force_refresh=True).access_token)  # token endpoint 5xx, echoing the key
    emulator.set_token_response(json.dumps({"access_token": "tok-SECRET-unusable-0123", "expires_in": -1}))
    expect(lambda: hook.get_token(force_refresh=True).access_token)  # unusable token answer
    emulator.set_token_response(None)
    monkeypatch.setenv(CONN_ENV, conn_json(emulator.url, wrong_key, max_retries=1))
    expect(lambda: TrafficStarsHook().get_token().access_token)  # rejected key, echoed back
    return errors


def test_exceptions_and_full_tracebacks_hold_no_secret(
    hook: TrafficStarsHook,
    emulator: TrafficStarsEmulator,
    api_key: str,
    id_tokens: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong_key = new_api_key()
    errors = collect_errors(hook, emulator, monkeypatch, wrong_key)
    assert len(errors) == 7
    echoed = [e for e in errors if "presented credential" in getattr(e, "body_excerpt", "")]
    assert len(echoed) >= 2, "the echo switch never put a credential in an answer: the proof is empty"
    secrets = all_secrets(emulator, api_key, id_tokens, wrong_key, "tok-SECRET-unusable-0123")
    for exc in errors:
        assert_no_secret(full_text(exc), *secrets)


# -- repr / str -----------------------------------------------------------------------------------------
def test_repr_and_str_of_every_object_hold_no_secret(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, api_key: str, id_tokens: list[str]
) -> None:
    token = hook.get_token()
    client = hook.get_conn()
    objects: list[object] = [hook, client, client.config, client.cache, token, emulator, *emulator.request_log()]
    text = "\n".join(f"{o!r} {o!s}" for o in objects)
    assert "TrafficStarsHook" in text and "AccessToken" in text
    assert_no_secret(text, *all_secrets(emulator, api_key, id_tokens))


# -- the secrets masker ---------------------------------------------------------------------------------
def test_tokens_are_registered_with_the_masker_when_obtained_and_when_loaded(
    hook: TrafficStarsHook, emulator: TrafficStarsEmulator, api_key: str, id_tokens: list[str]
) -> None:
    redact, reset_secrets_masker = secrets_masker_functions()

    reset_secrets_masker()
    token = hook.get_token().access_token  # obtained
    info = hook.get_session_info()
    for secret in (token, api_key, id_tokens[0], info["access_token"], info["refresh_token"]):
        assert redact(secret) == "***"
        assert redact(f"before {secret} after") == "before *** after"

    reset_secrets_masker()  # a new task process: the masker knows nothing yet
    assert redact(token) == token
    assert TrafficStarsHook().get_token().access_token == token  # loaded from the Variable, not obtained
    assert emulator.token_requests == 1
    assert redact(token) == "***"
    assert json.loads(variable(TOKEN_VAR) or "{}")["access_token"] == token


# -- a whole DAG run ------------------------------------------------------------------------------------
def test_dag_run_leaks_nothing_into_logs_xcom_or_rendered_fields(
    airflow_db: Path,
    clean_variables: None,
    ts_conn: str,
    emulator: TrafficStarsEmulator,
    api_key: str,
    id_tokens: list[str],
    capfd: pytest.CaptureFixture[str],
    debug_logging: pytest.LogCaptureFixture,
) -> None:
    dag = install_dag(TEST_DAGS / "faults_secrets.py")
    emulator.echo_secrets_in_errors()  # the failing task's 404 answer carries the token
    run = dag.test()
    states = task_states(run)
    assert states == {"use_hook": "success", "templated": "success", "fails": "failed"}, states

    xcoms = run_xcoms(run)
    first = xcoms[("use_hook", -1)]
    assert first["campaigns"] == 3 and first["token_type"] == "Bearer" and first["expires_in"] > 0
    assert first["token_masked"] is True and first["key_masked"] is True
    assert xcoms[("templated", -1)] == 3

    rendered = run_rendered_fields(run)[("templated", -1)]["op_kwargs"]
    assert rendered["endpoint"] == "/v1.1/campaigns"  # the template really was rendered
    assert rendered["cached"] == "***"  # the token cache Variable, rendered into a field, is masked

    logs = log_text(debug_logging)  # dag.test() runs tasks in-process: their log records arrive here
    # (and the log files, in run_traces, when the logging config writes any: dag.test() on 3.3 writes none)
    everything = "\n".join([run_traces(capfd, run), logs])
    # Not vacuous: the task's own lines, urllib3's request lines and the failing task's traceback with the
    # scrubbed echo are all in the searched text.
    assert "hook=TrafficStarsHook(" in logs and "GET /v1.1/campaigns?status%5B%5D=enabled" in logs
    assert "TrafficStarsApiError: TrafficStars answered HTTP 404" in everything
    assert "presented credential: ***" in everything
    assert_no_secret(everything, *all_secrets(emulator, api_key, id_tokens))
