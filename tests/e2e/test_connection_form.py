"""The TrafficStars connection form in a real browser, against a real ``airflow api-server`` (Airflow 3.3).

The UI builds the form from ``GET /ui/connections/hook_meta``, which on 3.2+ comes from ``conn-fields`` /
``ui-field-behaviour`` in ``get_provider_info()`` (one definition: ``connection_fields.py``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from packaging.version import Version

from airflow_provider_trafficstars.hooks._connection import EXTRA_FIELDS, HIDDEN_FIELDS, PLACEHOLDERS, RELABELING
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import AIRFLOW_V_3_3
from tests.helpers import REPO

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not AIRFLOW_V_3_3, reason="drives the Airflow 3.3 React UI (other versions: docs/compatibility.md)"
    ),
]
CONN_ID = "trafficstars_ui"
# The extras typed into the form, and what the API server must store for them.
TYPED = {"cache_variable": "trafficstars_ui_access_token", "refresh_margin": "600", "timeout": "20", "max_retries": "3"}
# The extra's own name holds no sensitive word: Airflow shows its value (a Variable key, no secret).
STORED = {"cache_variable": "trafficstars_ui_access_token", "refresh_margin": 600, "timeout": 20, "max_retries": 3}


def hook_meta(base: str) -> dict[str, Any]:
    """Return the ``trafficstars`` entry of the UI's connection-form metadata."""
    # Route: airflow/api_fastapi/core_api/routes/ui/connections.py, guarded by requires_access_connection(GET);
    # the simple auth manager with all users admin lets an anonymous caller through.
    answer = requests.get(f"{base}/ui/connections/hook_meta", timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    (entry,) = [e for e in answer.json() if e["connection_type"] == "trafficstars"]
    return dict(entry)


def test_hook_meta_endpoint_serves_the_form_definition(api_server: str) -> None:
    meta = hook_meta(api_server)
    assert meta["hook_name"] == "TrafficStars"
    assert meta["hook_class_name"] == "airflow_provider_trafficstars.hooks.trafficstars.TrafficStarsHook"
    standard = meta["standard_fields"]
    for field in HIDDEN_FIELDS:
        assert standard["url_schema" if field == "schema" else field]["hidden"] is True, field
    assert standard["password"] == {"hidden": False, "title": "API key", "placeholder": PLACEHOLDERS["password"]}
    assert standard["host"] == {"hidden": False, "title": RELABELING["host"], "placeholder": PLACEHOLDERS["host"]}

    extra = meta["extra_fields"]
    assert list(extra) == [f.name for f in EXTRA_FIELDS]
    for f in EXTRA_FIELDS:
        assert extra[f.name]["schema"]["title"] == f.label
        assert extra[f.name]["description"] == f.description
        assert extra[f.name]["schema"]["type"] == [f.type, "null"]
        assert extra[f.name]["value"] == f.default
        for bound in ("minimum", "maximum"):
            assert extra[f.name]["schema"].get(bound) == getattr(f, bound)


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1100, "height": 1300})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


def _work_around_portless_test_bug(page: Any) -> None:
    """Let the row's Test button reach the hook on Airflow 3.3.2 (fixed upstream: apache/airflow#73298).

    The 3.3.2 UI sends ``port: Number(null)``, i.e. ``0``, for a connection without a port, and the API
    answers 400 "host or port differs from the stored connection" before any hook runs. Every connection
    type without a port is affected. Drop that ``0`` from the request, as the fixed API treats it.
    """
    import airflow

    if Version(airflow.__version__) >= Version("3.3.3"):
        return

    def handle(route: Any) -> None:
        body = route.request.post_data_json
        if isinstance(body, dict) and body.get("port") == 0:
            del body["port"]
            route.continue_(post_data=json.dumps(body), headers={**route.request.headers})
        else:
            route.continue_()

    page.route("**/api/v2/connections/test", handle)


def _compose(page: Any, rows: list[list[bytes]], target: Path) -> None:
    """Lay screenshots out in rows, render that page in the same browser and save it as one PNG."""
    html = "".join(
        '<div style="display:flex;align-items:flex-start">'
        + "".join(
            f'<img src="data:image/png;base64,{base64.b64encode(shot).decode()}" style="margin:6px">' for shot in row
        )
        + "</div>"
        for row in rows
    )
    page.set_viewport_size({"width": 2400, "height": 800})
    page.set_content(f'<body style="margin:0;background:#e9ecef"><div id="all" style="width:max-content">{html}</div>')
    page.locator("#all").screenshot(path=str(target))


def test_add_test_and_save_a_connection_in_the_browser(
    api_server: str, page: Any, api_key: str, emulator: TrafficStarsEmulator, artifacts: Path
) -> None:
    page.goto(f"{api_server}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(CONN_ID)
    dialog.get_by_role("combobox").fill("TrafficStars")
    page.get_by_role("option", name="TrafficStars", exact=True).click()

    # Standard fields: relabelled, with placeholders; login, schema and port are not offered.
    labels = [text.strip(" *\n") for text in dialog.locator("label").all_inner_texts()]
    assert {"Base URL", "API key"} <= set(labels)
    assert not {"Login", "Schema", "Port", "Password", "Host"} & set(labels), labels
    assert dialog.get_by_label("API key").get_attribute("placeholder") == PLACEHOLDERS["password"]
    assert dialog.get_by_label("API key").get_attribute("type") == "password"
    dialog.get_by_label("Base URL").fill(emulator.url)
    dialog.get_by_label("API key").fill(api_key)

    # Extra fields: our labels, descriptions and defaults.
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for f in EXTRA_FIELDS:
        assert dialog.get_by_text(f.label, exact=True).is_visible(), f.label
        assert dialog.get_by_text(f.description, exact=True).is_visible(), f.description
    for name, value in TYPED.items():
        # By the input's name: the 3.3 UI's <label> of a text param points at another id than its <input>.
        dialog.locator(f'input[name="element_{name}"]').fill(value)

    dialog.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    row.wait_for()
    assert "trafficstars" in row.inner_text() and emulator.url in row.inner_text()

    stored = requests.get(f"{api_server}/api/v2/connections/{CONN_ID}", timeout=30).json()
    assert stored["conn_type"] == "trafficstars" and stored["host"] == emulator.url
    assert stored["password"] == "***" and stored["login"] is None and stored["port"] is None
    assert STORED.items() <= json.loads(stored["extra"]).items(), stored["extra"]

    # Test: the API server runs TrafficStarsHook.test_connection() against the emulator.
    _work_around_portless_test_bug(page)
    row.get_by_role("button", name="Test Connection").click()
    toast = page.locator('[data-scope="toast"][data-part="root"]').filter(has_text="Test Connection Successful")
    toast.wait_for()
    success = toast.screenshot()
    assert emulator.token_requests == 1
    assert emulator.count("POST", "/v1/auth/info") == 1
    page.locator('[data-scope="toast"][data-part="root"]').last.wait_for(state="detached", timeout=30_000)

    # The filled form after the successful Test (the stored connection, opened for editing).
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Base URL").wait_for()
    standard = dialog.screenshot()
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for name, value in STORED.items():
        assert dialog.locator(f'input[name="element_{name}"]').input_value() == str(value), name
    extra = dialog.screenshot()
    target = artifacts / "connection-form.png"
    _compose(page, [[standard, extra], [success]], target)
    assert target.stat().st_size > 10_000
    copy_if_requested(target, REPO / "docs" / "connection-form.png")


def copy_if_requested(source: Path, target: Path) -> None:
    """Refresh a committed copy of an artifact when ``TS_E2E_UPDATE_DOCS=1`` (keeps git clean otherwise)."""
    if os.environ.get("TS_E2E_UPDATE_DOCS") == "1":
        shutil.copyfile(source, target)
