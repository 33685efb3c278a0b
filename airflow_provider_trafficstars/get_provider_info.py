"""Provider registration: Airflow reads this through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_trafficstars import __version__
from airflow_provider_trafficstars.hooks._connection import CONN_TYPE, conn_fields, ui_field_behaviour

_INTEGRATION = "TrafficStars"
#: The how-to guides of the documentation site (docs/howto/), as Airflow's own providers list theirs.
HOWTO = "/docs/howto/"
#: Shipped in the wheel, next to this module (``importlib.resources.files(package) / LOGO``).
LOGO = "integration-logos/trafficstars.svg"


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata Airflow uses to list the package and build the connection form."""
    return {
        "package-name": "airflow-provider-trafficstars",
        "name": "TrafficStars",
        "description": "Hook, operators, sensors and triggers for the TrafficStars advertising API (sessions, campaign "
        "control, balance), with one cached access token shared by every task and worker.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://api.trafficstars.com/",
                "how-to-guide": [
                    f"{HOWTO}{page}.md"
                    for page in (
                        "refresh-token",
                        "session-info",
                        "api-call",
                        "logout",
                        "campaign-state",
                        "campaign-update",
                        "session-sensor",
                        "balance-sensor",
                    )
                ],
                "logo": LOGO,
                "tags": ["service", "advertising"],
            }
        ],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["airflow_provider_trafficstars.hooks.trafficstars"],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_trafficstars.operators.trafficstars",
                    "airflow_provider_trafficstars.operators.campaigns",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_trafficstars.sensors.trafficstars",
                    "airflow_provider_trafficstars.sensors.balance",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_trafficstars.triggers.trafficstars",
                    "airflow_provider_trafficstars.triggers.balance",
                ],
            }
        ],
        "transfers": [
            {
                "source-integration-name": _INTEGRATION,
                "target-integration-name": "Common IO",
                "how-to-guide": f"{HOWTO}report-to-storage.md",
                "python-module": "airflow_provider_trafficstars.transfers.report_to_storage",
            }
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_trafficstars.hooks.trafficstars.TrafficStarsHook",
                "hook-name": "TrafficStars",
                "ui-field-behaviour": ui_field_behaviour(),
                "conn-fields": conn_fields(),
            }
        ],
    }
