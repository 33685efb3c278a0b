"""Apache Airflow provider for the TrafficStars advertising API."""

from __future__ import annotations

__version__ = "0.1.0"
