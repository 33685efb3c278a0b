"""The one definition of the TrafficStars connection form and its extras.

``get_provider_info()`` turns it into ``conn-fields`` / ``ui-field-behaviour`` (Airflow 3.2+), the hook
into wtforms widgets (Airflow 2), and the hook reads extras with :func:`read_extras`. No Airflow imports.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_trafficstars.client.http._urls import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from airflow_provider_trafficstars.client._config import ClientConfig

# Airflow imports get_provider_info (and so this module) while it is still initialising its own
# configuration: nothing here may import Airflow, or a module that does, at import time (the client's
# modules import no Airflow; tests/packaging/test_package_exports.py measures what start-up imports).

log = logging.getLogger(__name__)

CONN_TYPE = "trafficstars"
HIDDEN_FIELDS = ["login", "schema", "port"]
RELABELING = {"password": "API key", "host": "Base URL"}
PLACEHOLDERS = {
    "host": DEFAULT_BASE_URL,
    # Required, but no Airflow form can mark a standard field required (README, "The connection"): say it.
    "password": "Required: your TrafficStars API key",
    "cache_variable": "trafficstars_access_token_<conn_id>",
    "report_timezone": "UTC",
}


@dataclass(frozen=True)
class ExtraField:
    """One connection extra: its form label, help text and JSON-schema type and bounds."""

    name: str
    label: str
    description: str
    type: str  # "string" | "integer" | "number" | "boolean"
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.type, "null"]}
        for key in ("default", "minimum", "maximum"):
            if getattr(self, key) is not None:
                schema[key] = getattr(self, key)
        return schema


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "cache_variable",
        "Cache Variable",
        "Airflow Variable that holds the shared access token; its key must be one Airflow masks (it must "
        "contain a word such as access_token, secret or password). Empty: trafficstars_access_token_<conn_id>.",
        "string",
    ),
    ExtraField(
        "refresh_margin",
        "Refresh margin (s)",
        "Renew the token this many seconds before it expires (at most half its lifetime).",
        "integer",
        default=300,
        minimum=0,
        maximum=86400,
    ),
    ExtraField(
        "timeout", "Timeout (s)", "Seconds to wait for each HTTP call.", "number", default=30, minimum=1, maximum=600
    ),
    ExtraField(
        "max_retries",
        "Max retries",
        "Retries of a call after 429, 5xx and connection errors, with exponential backoff.",
        "integer",
        default=5,
        minimum=0,
        maximum=20,
    ),
    ExtraField(
        "single_flight",
        "Single-flight renewal",
        "When the shared token expires, one worker renews it while the others wait for it (a lease in the "
        "Variable <cache variable>_lease). Off: every worker that finds it expired renews on its own.",
        "boolean",
        default=True,
    ),
    ExtraField(
        "rate_limit",
        "Rate limit (calls per 60 s)",
        "The account's budget: most calls it may receive in any 60 s from all tasks, sensors and triggers "
        "together, token requests and retries included (TrafficStars allows about 100). Shared through a "
        "Variable. 0: no limit.",
        "integer",
        default=100,
        minimum=0,
        maximum=100000,
    ),
    ExtraField(
        "report_timezone",
        "Report time zone",
        "IANA time zone in which the account's report days start, e.g. Europe/Berlin. Empty: UTC.",
        "string",
    ),
)
#: Extras read under an older name: ``{old: new}`` (a deprecation warning names the new one).
RENAMED_EXTRAS = {"token_variable": "cache_variable"}


def conn_fields() -> dict[str, Any]:
    """Return the ``conn-fields`` entry of ``get_provider_info()`` (Airflow 3.2+ builds its form from it)."""
    return {f.name: {"label": f.label, "description": f.description, "schema": f.schema()} for f in EXTRA_FIELDS}


def ui_field_behaviour() -> dict[str, Any]:
    """Return the ``ui-field-behaviour`` entry of ``get_provider_info()``."""
    return {"hidden-fields": list(HIDDEN_FIELDS), "relabeling": dict(RELABELING), "placeholders": dict(PLACEHOLDERS)}


def read_extras(extra: Mapping[str, Any], conn_id: str) -> dict[str, Any]:
    """Return the validated extras with defaults filled in.

    Values may come as strings (the UI and URIs store text); the Airflow 2 form prefixes names with
    ``extra__trafficstars__``, which is accepted too.

    :raises TrafficStarsConfigError: naming the connection and the extra that is wrong.
    """
    from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError

    if not isinstance(extra, Mapping):
        raise TrafficStarsConfigError(
            f'Connection {conn_id!r}: extra must be a JSON object such as {{"timeout": 30}}, '
            f"not a JSON {type(extra).__name__}."
        )
    extra = dict(extra)
    for old, new in RENAMED_EXTRAS.items():
        if _given(extra, old) and not _given(extra, new):
            message = f"Connection {conn_id!r}: the extra {old!r} is deprecated; rename it to {new!r}."
            warnings.warn(message, DeprecationWarning, stacklevel=3)
            log.warning("%s", message)
            extra[new] = extra.get(old, extra.get(f"extra__{CONN_TYPE}__{old}"))
    out: dict[str, Any] = {}
    for f in EXTRA_FIELDS:
        value = extra.get(f.name, extra.get(f"extra__{CONN_TYPE}__{f.name}"))
        if value is None or value == "":
            out[f.name] = f.default
            continue
        out[f.name] = _coerce(f, value, conn_id)
    return out


def _given(extra: Mapping[str, Any], name: str) -> bool:
    return extra.get(name, extra.get(f"extra__{CONN_TYPE}__{name}")) not in (None, "")


def default_token_variable(conn_id: str) -> str:
    """Return the default Variable key of a connection's token record."""
    return f"trafficstars_access_token_{conn_id}"


def connection_config(
    conn: Any, conn_id: str, *, is_masked_key: Callable[[str], bool], max_retries: int | None = None
) -> tuple[ClientConfig, str]:
    """Return the client settings and the cache Variable key of a ``trafficstars`` connection.

    :param conn: the Airflow connection.
    :param conn_id: its id, for error messages and the default Variable key.
    :param is_masked_key: Airflow's rule for Variable keys whose values it hides in logs and the UI.
    :param max_retries: overrides the connection extra ``max_retries`` when given.
    :raises TrafficStarsAuthError: (reason ``"missing_api_key"``) when the connection has no API key.
    :raises TrafficStarsConfigError: a malformed host or extra, or a cache Variable Airflow would show.
    """
    from airflow_provider_trafficstars.client._config import ClientConfig
    from airflow_provider_trafficstars.client.http._urls import normalize_base_url
    from airflow_provider_trafficstars.client.reports._catalogue import report_timezone
    from airflow_provider_trafficstars.exceptions import TrafficStarsAuthError, TrafficStarsConfigError

    api_key = (conn.password or "").strip()
    if not api_key:
        raise TrafficStarsAuthError(
            f"Connection {conn_id!r} has no API key: put the TrafficStars API key in the connection's "
            "password field (labelled 'API key' in the UI).",
            reason="missing_api_key",
        )
    try:
        extra = getattr(conn, "extra", None)
        raw_extra = json.loads(extra) if isinstance(extra, str) and extra.strip() else extra or {}
    except ValueError:
        raise TrafficStarsConfigError(
            f'Connection {conn_id!r}: extra is not valid JSON; write a JSON object such as {{"timeout": 30}}.'
        ) from None
    extras = read_extras(raw_extra, conn_id)
    variable = extras["cache_variable"] or default_token_variable(conn_id)
    if not is_masked_key(variable):
        raise TrafficStarsConfigError(
            f"Connection {conn_id!r}: extra 'cache_variable' is {variable!r}, a key whose value Airflow would "
            "show unmasked in logs and the UI; the token must never be. Use a key Airflow masks (containing "
            "access_token, secret or password, e.g. 'trafficstars_access_token_reports'), or leave it empty."
        )
    report_timezone(extras["report_timezone"], conn_id)  # a zone that does not exist fails here, before any call
    config = ClientConfig(
        base_url=normalize_base_url(conn.host, port=conn.port, conn_id=conn_id),
        api_key=api_key,
        timeout=extras["timeout"],
        max_retries=extras["max_retries"] if max_retries is None else max_retries,
        refresh_margin=extras["refresh_margin"],
        single_flight=extras["single_flight"],
        rate_limit=extras["rate_limit"],
        report_timezone=extras["report_timezone"] or "UTC",
    )
    return config, variable


def _coerce(f: ExtraField, value: Any, conn_id: str) -> Any:
    from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError

    def bad(why: str) -> TrafficStarsConfigError:
        return TrafficStarsConfigError(f"Connection {conn_id!r}: extra {f.name!r} {why}.")

    if f.type == "string":
        if not isinstance(value, str):
            raise bad("must be a string")
        return value.strip()
    if f.type == "boolean":
        from airflow_provider_trafficstars.client._values import parse_flag

        try:
            return parse_flag(value)  # the UI stores a JSON boolean; a URI or hand-written extra may hold text
        except ValueError as exc:
            raise bad(str(exc)) from None
    if isinstance(value, bool):
        raise bad("must be a number, not true/false")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise bad(f"must be a number, got {type(value).__name__}") from None
    if number != number or (f.type == "integer" and not number.is_integer()):
        raise bad("must be a whole number")
    if (f.minimum is not None and number < f.minimum) or (f.maximum is not None and number > f.maximum):
        raise bad(f"must be between {f.minimum:g} and {f.maximum:g}")
    return int(number) if f.type == "integer" else number
