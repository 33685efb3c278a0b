"""Test helpers shipped with the provider: an offline TrafficStars API emulator (stdlib only).

Names are imported lazily so that ``python -m airflow_provider_trafficstars.testing.emulator``
runs without a "found in sys.modules" warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
    from airflow_provider_trafficstars.testing.emulator_state import EmulatorState, RecordedRequest

__all__ = ["EmulatorState", "RecordedRequest", "TrafficStarsEmulator"]


def __getattr__(name: str) -> Any:
    if name == "TrafficStarsEmulator":
        from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator

        return TrafficStarsEmulator
    if name in ("EmulatorState", "RecordedRequest"):
        from airflow_provider_trafficstars.testing import emulator_state

        return getattr(emulator_state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
