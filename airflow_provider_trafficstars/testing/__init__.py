"""Test helpers shipped with the provider (stdlib only): an offline TrafficStars API emulator and a
throwaway Airflow home.

Names are imported lazily so that ``python -m airflow_provider_trafficstars.testing.emulator``
runs without a "found in sys.modules" warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_trafficstars.testing._airflow_home import AirflowHome
    from airflow_provider_trafficstars.testing._state import EmulatorState, RecordedRequest, new_api_key
    from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator

__all__ = ["AirflowHome", "EmulatorState", "RecordedRequest", "TrafficStarsEmulator", "new_api_key"]


def __getattr__(name: str) -> Any:
    if name == "AirflowHome":
        from airflow_provider_trafficstars.testing._airflow_home import AirflowHome

        return AirflowHome
    if name == "TrafficStarsEmulator":
        from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator

        return TrafficStarsEmulator
    if name in ("EmulatorState", "RecordedRequest", "new_api_key"):
        from airflow_provider_trafficstars.testing import _state as emulator_state

        return getattr(emulator_state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
