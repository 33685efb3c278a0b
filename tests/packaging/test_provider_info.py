"""Provider registration and the connection form, from one definition, on every Airflow version we support.

Airflow 3.2+ builds the form from ``conn-fields`` / ``ui-field-behaviour`` in ``get_provider_info()``;
Airflow 2 (Flask AppBuilder UI) and the API server of 3.0/3.1 from the hook's
``get_connection_form_widgets()`` / ``get_ui_field_behaviour()``. All of them come from ``connection_fields``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from importlib.metadata import distribution, entry_points
from typing import Any

import pytest

from airflow_provider_trafficstars import __version__
from airflow_provider_trafficstars.get_provider_info import get_provider_info
from airflow_provider_trafficstars.hooks._connection import (
    CONN_TYPE,
    EXTRA_FIELDS,
    HIDDEN_FIELDS,
    PLACEHOLDERS,
    RELABELING,
)
from tests.airflow_compat import AIRFLOW_V_3, AIRFLOW_V_3_2, requires_airflow_2

DIST = "airflow-provider-trafficstars"
HOOK = "airflow_provider_trafficstars.hooks.trafficstars.TrafficStarsHook"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def connection_type() -> dict[str, Any]:
    (entry,) = get_provider_info()["connection-types"]
    return dict(entry)


# -- get_provider_info() ------------------------------------------------------------------------------
def test_package_name_and_version_match_the_installed_distribution() -> None:
    info = get_provider_info()
    dist = distribution(DIST)
    assert info["package-name"] == normalize(dist.metadata["Name"]) == DIST
    assert info["versions"][0] == dist.version == __version__


def test_entry_point_resolves_to_get_provider_info() -> None:
    (ep,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_")]
    assert ep.value == "airflow_provider_trafficstars.get_provider_info:get_provider_info"
    assert ep.load() is get_provider_info
    assert ep.dist is not None and normalize(ep.dist.name) == DIST


def test_every_listed_module_and_class_imports() -> None:
    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        for item in info.get(section, []):
            assert item["integration-name"] == "TrafficStars"
            for module in item["python-modules"]:
                assert importlib.util.find_spec(module) is not None, module
    assert connection_type()["hook-class-name"] == HOOK


def test_conn_fields_describe_every_extra() -> None:
    fields = connection_type()["conn-fields"]
    assert list(fields) == [f.name for f in EXTRA_FIELDS]
    for f in EXTRA_FIELDS:
        field = fields[f.name]
        assert set(field) == {"label", "description", "schema"}
        assert (field["label"], field["description"]) == (f.label, f.description)
        assert field["label"] and field["description"].endswith((".", ")"))
        schema = field["schema"]
        assert schema["type"] == [f.type, "null"]
        assert schema.get("default") == f.default
        assert (schema.get("minimum"), schema.get("maximum")) == (f.minimum, f.maximum)
        assert "format" not in schema  # no extra is a secret: the API key is the password field
        if f.minimum is not None and f.default is not None:
            assert f.minimum <= f.default <= (f.maximum if f.maximum is not None else f.default)


def test_ui_field_behaviour_hides_relabels_and_fills_placeholders() -> None:
    entry = connection_type()
    assert (entry["connection-type"], entry["hook-name"]) == (CONN_TYPE, "TrafficStars")
    behaviour = entry["ui-field-behaviour"]
    assert behaviour["hidden-fields"] == ["login", "schema", "port"] == HIDDEN_FIELDS
    assert behaviour["relabeling"] == {"password": "API key", "host": "Base URL"} == RELABELING
    assert behaviour["placeholders"]["host"] == "https://api.trafficstars.com"
    assert behaviour["placeholders"] == PLACEHOLDERS
    assert set(behaviour["placeholders"]) - {"host", "password"} <= {f.name for f in EXTRA_FIELDS}


def test_the_api_key_is_marked_required_the_only_way_airflows_forms_allow() -> None:
    """No Airflow form can mark a standard field (the password: our API key) required, so its placeholder says it.

    Extras could be required (a ``conn-fields`` type without "null"), but every extra has a default. When an
    Airflow version lets a standard field be required, this fails: mark the API key with it (README).
    """
    assert PLACEHOLDERS["password"].startswith("Required:")
    assert connection_type()["ui-field-behaviour"]["placeholders"]["password"] == PLACEHOLDERS["password"]
    assert all("null" in field["schema"]["type"] for field in connection_type()["conn-fields"].values())
    if AIRFLOW_V_3:  # the 3.x UI: a standard field is hidden or not, relabelled, given a placeholder; nothing else
        from airflow.api_fastapi.core_api.datamodels.connections import ConnectionHookFieldBehavior

        assert set(ConnectionHookFieldBehavior.model_fields) == {"hidden", "title", "placeholder"}
    else:  # pragma: no cover - Airflow 2: Flask AppBuilder's form has no validator on the password
        from airflow.www.forms import create_connection_form_class

        form = create_connection_form_class()
        assert form.conn_id.kwargs["validators"], "the form does mark its required fields"
        assert not form.password.kwargs.get("validators")


# -- the hook's form (Airflow 2 and the 3.0/3.1 API server) ---------------------------------------------
@pytest.fixture
def fresh_providers_manager() -> Iterator[None]:
    """Let a test see the ProvidersManager the way a fresh process does, and leave no state behind.

    The API server of 3.1 does not reset it before building the form (3.0 does): a process that had
    already loaded our hook with the real wtforms would show no extra fields. The API server builds the
    form first, once (``hook_meta_data`` is cached); a test of the other path must not go before it.
    """
    from airflow.providers_manager import ProvidersManager

    def reset() -> None:
        ProvidersManager()._cleanup()
        if AIRFLOW_V_3:
            from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

            HookMetaService.hook_meta_data.cache_clear()

    reset()
    yield
    reset()


@requires_airflow_2
def test_hook_form_widgets_on_airflow_2() -> None:
    from wtforms import BooleanField, IntegerField, StringField

    from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

    widgets = TrafficStarsHook.get_connection_form_widgets()
    assert list(widgets) == [f.name for f in EXTRA_FIELDS]
    expected_class = {"string": StringField, "boolean": BooleanField, "integer": IntegerField, "number": IntegerField}
    for f in EXTRA_FIELDS:
        field = widgets[f.name]
        assert field.field_class is expected_class[f.type], f.name
        assert str(field.args[0]) == f.label
        assert field.kwargs["description"] == f.description
    assert TrafficStarsHook.get_ui_field_behaviour() == {
        "hidden_fields": HIDDEN_FIELDS,
        "relabeling": RELABELING,
        "placeholders": PLACEHOLDERS,
    }


@pytest.mark.usefixtures("fresh_providers_manager")
def test_providers_manager_lists_the_hook_and_its_form() -> None:
    """``airflow providers hooks`` and the UI read this (Airflow 2: the hook's methods; 3.2+: metadata)."""
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    hook = pm.hooks[CONN_TYPE]
    assert hook is not None
    assert (hook.hook_class_name, hook.hook_name, hook.package_name) == (HOOK, "TrafficStars", DIST)
    assert hook.connection_id_attribute_name == "trafficstars_conn_id"

    widgets = {k: v for k, v in pm.connection_form_widgets.items() if k.startswith(f"extra__{CONN_TYPE}__")}
    assert [w.field_name for w in widgets.values()] == [f.name for f in EXTRA_FIELDS]
    assert not any(w.is_sensitive for w in widgets.values())
    behaviour = pm.field_behaviours[CONN_TYPE]
    assert behaviour["hidden_fields"] == HIDDEN_FIELDS
    assert behaviour["relabeling"] == RELABELING
    # Airflow prefixes the placeholders of extras with extra__<conn type>__.
    assert behaviour["placeholders"]["password"] == PLACEHOLDERS["password"]
    assert behaviour["placeholders"][f"extra__{CONN_TYPE}__cache_variable"] == PLACEHOLDERS["cache_variable"]


@pytest.mark.skipif(not AIRFLOW_V_3, reason="the Airflow 3 UI asks the API server for the form")
@pytest.mark.usefixtures("fresh_providers_manager")
def test_api_server_form_metadata() -> None:
    """What ``GET /ui/connections/hook_meta`` answers (3.0/3.1: the hook's methods, wtforms mocked)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == CONN_TYPE]
    assert (meta.hook_class_name, meta.hook_name) == (HOOK, "TrafficStars")
    standard = meta.standard_fields
    assert standard is not None
    assert standard.login is not None and standard.login.hidden
    assert standard.port is not None and standard.port.hidden
    assert standard.url_schema is not None and standard.url_schema.hidden
    assert standard.password is not None and (standard.password.title, standard.password.hidden) == ("API key", False)
    assert standard.host is not None and standard.host.title == "Base URL"
    extra = meta.extra_fields
    assert extra is not None and list(extra) == [f.name for f in EXTRA_FIELDS]
    for f in EXTRA_FIELDS:
        assert extra[f.name]["schema"]["title"] == f.label
        assert extra[f.name]["description"] == f.description
        # 3.0/3.1 read the wtforms field class: an IntegerField also carries the "number" extras.
        assert extra[f.name]["schema"]["type"][0] in ({f.type} if AIRFLOW_V_3_2 else {f.type, "integer"})


def test_wtforms_is_a_runtime_dependency() -> None:
    """Airflow 3.0's API server builds no connection form at all (not even the relabelled API key) unless
    wtforms is importable, and a plain ``pip install apache-airflow==3.0.*`` does not bring it."""
    requires = distribution(DIST).requires or []
    runtime = [r for r in requires if "extra ==" not in r]
    assert any(re.match(r"wtforms\b", r, re.IGNORECASE) for r in runtime), runtime
    assert importlib.util.find_spec("wtforms") is not None


# -- the report extras (issue 11) -------------------------------------------------------------------------
def test_rate_limit_and_report_timezone_are_form_fields() -> None:
    fields = connection_type()["conn-fields"]
    assert fields["rate_limit"]["schema"] == {
        "type": ["integer", "null"],
        "default": 100,
        "minimum": 0,
        "maximum": 100000,
    }
    assert fields["report_timezone"]["schema"] == {"type": ["string", "null"]}
    assert PLACEHOLDERS["report_timezone"] == "UTC"


@pytest.mark.parametrize(
    ("extra", "rate", "zone"),
    [({}, 100, "UTC"), ({"rate_limit": "40", "report_timezone": " Europe/Berlin "}, 40, "Europe/Berlin"),
     ({"rate_limit": 0, "report_timezone": ""}, 0, "UTC")],
)  # fmt: skip
def test_connection_config_reads_the_report_extras(extra: dict[str, Any], rate: int, zone: str) -> None:
    from airflow.models.connection import Connection

    from airflow_provider_trafficstars.hooks._airflow import is_masked_key
    from airflow_provider_trafficstars.hooks._connection import connection_config

    conn = Connection(conn_id="ts", conn_type=CONN_TYPE, password="k", extra=extra)
    config, _ = connection_config(conn, "ts", is_masked_key=is_masked_key)
    assert (config.rate_limit, config.report_timezone) == (rate, zone)


@pytest.mark.parametrize("extra", [{"rate_limit": -1}, {"rate_limit": "fast"}, {"report_timezone": "Mars/Olympus"}])
def test_bad_report_extras_are_config_errors_before_any_call(extra: dict[str, Any]) -> None:
    from airflow.models.connection import Connection

    from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError
    from airflow_provider_trafficstars.hooks._airflow import is_masked_key
    from airflow_provider_trafficstars.hooks._connection import connection_config

    conn = Connection(conn_id="ts", conn_type=CONN_TYPE, password="k", extra=extra)
    with pytest.raises(TrafficStarsConfigError, match=next(iter(extra))):
        connection_config(conn, "ts", is_masked_key=is_masked_key)


def test_the_report_transfer_is_registered_as_a_transfer() -> None:
    (transfer,) = get_provider_info()["transfers"]
    assert transfer == {
        "source-integration-name": "TrafficStars",
        "target-integration-name": "Common IO",
        "how-to-guide": "/docs/howto/report-to-storage.md",
        "python-module": "airflow_provider_trafficstars.transfers.report_to_storage",
    }
    assert importlib.util.find_spec(transfer["python-module"]) is not None


def test_the_provider_info_validates_against_airflows_own_schema() -> None:
    """The schema Airflow's ProvidersManager checks the metadata with (how-to guides, logo, transfers)."""
    import json
    from pathlib import Path

    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    (integration,) = info["integrations"]
    assert integration["logo"] and integration["how-to-guide"] and integration["tags"]
