"""TrafficStars reports: the catalogue, the day coverage rule, the stable schema and the object formats.

The public names are what a DAG that reads our objects needs (the load example): the report catalogue
(:func:`report_spec`, :data:`FIELD_TYPES`), where a day's object is (:func:`object_url`, :data:`FORMATS`,
:func:`format_of`), and the one reader of our objects (:func:`decode`); plus the coverage rule
(:func:`decide`) and the write method of a destination (:func:`write_method`) that the docs explain.
"""

from __future__ import annotations

from airflow_provider_trafficstars.client.reports._catalogue import (
    FIELD_TYPES,
    REPORTS,
    ReportSpec,
    report_spec,
    report_timezone,
)
from airflow_provider_trafficstars.client.reports._coverage import decide
from airflow_provider_trafficstars.client.reports._files import FORMATS, decode, format_of, object_url
from airflow_provider_trafficstars.client.reports._storage import write_method

__all__ = [
    "FIELD_TYPES",
    "FORMATS",
    "REPORTS",
    "ReportSpec",
    "decide",
    "decode",
    "format_of",
    "object_url",
    "report_spec",
    "report_timezone",
    "write_method",
]
