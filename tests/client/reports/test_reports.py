"""The report catalogue, argument checks, the report time zone and the stable schema (pure logic).

Which days a run covers: tests/client/reports/test_coverage.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pendulum
import pytest

from airflow_provider_trafficstars.client.reports import _catalogue as reports
from airflow_provider_trafficstars.client.reports import _schema as schema
from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError, TrafficStarsDataError

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
D = date.fromisoformat


def days(*texts: str) -> list[date]:
    return [D(t) for t in texts]


# -- catalogue ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "path", "filter_param", "dimensions"),
    [
        ("advertiser/by-day", "/v1.1/advertiser/custom/report/by-day", "campaign_id", ()),
        (
            "advertiser/by-campaign",
            "/v1.1/advertiser/custom/report/by-campaign",
            "campaign_id",
            ("campaign_id", "name"),
        ),
        ("advertiser/by-country", "/v1.1/advertiser/custom/report/by-country", "campaign_id", ("country",)),
        ("advertiser/by-creative", "/v1.1/advertiser/custom/report/by-creative", "campaign_id", ("banner_id",)),
        ("advertiser/by-spot", "/v1.1/advertiser/custom/report/by-spot", "campaign_id", ("spot_id",)),
        ("publisher/by-day", "/v1.1/publisher/custom/report/by-day", "spot_id", ()),
        ("publisher/by-spot", "/v1.1/publisher/custom/report/by-spot", "spot_id", ("spot_id",)),
        ("publisher/by-country", "/v1.1/publisher/custom/report/by-country", "spot_id", ("country",)),
    ],
)
def test_catalogue(name: str, path: str, filter_param: str, dimensions: tuple[str, ...]) -> None:
    spec = reports.report_spec(name)
    assert (spec.name, spec.path, spec.filter_param) == (name, path, filter_param)
    metrics = ("impressions", "clicks", "leads", "amount", "ctr", "ecpm", "ecpc", "ecpa")
    assert spec.fields == ("day", *dimensions, *metrics)
    assert spec.per_day is name.endswith("/by-day")


def test_catalogue_has_exactly_the_documented_reports() -> None:
    assert len(reports.REPORTS) == 8


@pytest.mark.parametrize("name", ["advertiser/by-hour", "by-day", "", None, 3, "campaigns", "advertiser/by-day/"])
def test_unknown_report_is_a_config_error(name: Any) -> None:
    with pytest.raises(TrafficStarsConfigError, match="Unknown TrafficStars report"):
        reports.report_spec(name)


def test_campaigns_only_where_allowed() -> None:
    spec = reports.report_spec("campaigns", allow_campaigns=True)
    assert (spec.path, spec.filter_param, spec.fields) == ("/v1.1/campaigns", "status", ("day", "id", "name", "status"))
    assert spec.is_campaigns and not reports.report_spec("advertiser/by-day").is_campaigns


# -- arguments ------------------------------------------------------------------------------------------
def test_days_parse_from_strings_and_dates() -> None:
    assert reports.parse_day("2026-02-28") == D("2026-02-28")
    assert reports.parse_day(" 2026-02-28 ") == D("2026-02-28")
    assert reports.parse_day(D("2026-02-28")) == D("2026-02-28")


@pytest.mark.parametrize(
    "value",
    ["2026-02-30", "2026-2-28", "26-02-28", "2026/02/28", "20260228", "", "None", None, 20260228, ["2026-02-28"]],
)
def test_malformed_days_are_config_errors(value: Any) -> None:
    with pytest.raises(TrafficStarsConfigError, match="YYYY-MM-DD"):
        reports.parse_day(value, "date_from")


@pytest.mark.parametrize("value", [datetime(2026, 2, 28, 12), pendulum.datetime(2026, 2, 28)])
def test_a_datetime_is_refused_because_its_day_depends_on_a_zone(value: datetime) -> None:
    with pytest.raises(TrafficStarsConfigError, match="not a datetime"):
        reports.parse_day(value)


def test_reversed_range_is_a_config_error() -> None:
    assert reports.day_range("2026-01-01", "2026-01-01") == (D("2026-01-01"), D("2026-01-01"))
    with pytest.raises(TrafficStarsConfigError, match="after date_to"):
        reports.day_range("2026-01-02", "2026-01-01")


def test_report_query_with_filters_as_sorted_arrays() -> None:
    spec = reports.report_spec("advertiser/by-campaign")
    assert reports.report_query(spec, "2026-01-01", D("2026-01-03"), {"campaign_id": [3, "1", 3]}) == {
        "date_from": "2026-01-01",
        "date_to": "2026-01-03",
        "campaign_id": [1, 3],
    }
    assert reports.report_query(spec, "2026-01-01", "2026-01-01", {"campaign_id[]": 7})["campaign_id"] == [7]
    assert reports.report_query(spec, "2026-01-01", "2026-01-01") == {
        "date_from": "2026-01-01",
        "date_to": "2026-01-01",
    }
    publisher = reports.report_spec("publisher/by-spot")
    assert reports.report_query(publisher, "2026-01-01", "2026-01-01", {"spot_id": (9, 8)})["spot_id"] == [8, 9]


@pytest.mark.parametrize(
    ("report", "filters", "match"),
    [
        ("advertiser/by-day", {"spot_id": [1]}, "takes the filter 'campaign_id' only"),
        ("publisher/by-day", {"campaign_id": [1]}, "takes the filter 'spot_id' only"),
        ("advertiser/by-day", {"campaign_id": []}, "is empty"),
        ("advertiser/by-day", {"campaign_id": [True]}, "whole-number ids"),
        ("advertiser/by-day", {"campaign_id": ["1,2"]}, "whole-number ids"),
        ("advertiser/by-day", {"campaign_id": "[1, 2]"}, "whole-number ids"),
        ("advertiser/by-day", {"campaign_id": [1.5]}, "whole-number ids"),
        ("advertiser/by-day", [1, 2], "must be a mapping"),
        ("campaigns", {"status": ["enabled", 3]}, "status names"),
        ("campaigns", {"status": ["en abled"]}, "status names"),
    ],
)
def test_bad_filters_are_config_errors(report: str, filters: Any, match: str) -> None:
    spec = reports.report_spec(report, allow_campaigns=True)
    with pytest.raises(TrafficStarsConfigError, match=match):
        reports.filter_values(spec, filters)


def test_campaign_status_filter() -> None:
    spec = reports.report_spec("campaigns", allow_campaigns=True)
    assert reports.filter_values(spec, {"status": "enabled"}) == {"status": ["enabled"]}
    assert reports.filter_values(spec, {"status[]": ["paused", "enabled"]}) == {"status": ["enabled", "paused"]}


def test_report_timezone() -> None:
    assert reports.report_timezone(None) == UTC == reports.report_timezone("  ")
    assert reports.report_timezone("Europe/Berlin") == BERLIN
    for bad in ("Mars/Olympus", "../etc/passwd", "CEST+2"):
        with pytest.raises(TrafficStarsConfigError, match="report_timezone"):
            reports.report_timezone(bad, "ts")


def test_chunks_of_consecutive_days() -> None:
    year = [D("2025-01-01") + timedelta(days=i) for i in range(400)]
    assert reports.chunks(year) == [(D("2025-01-01"), D("2026-01-01")), (D("2026-01-02"), D("2026-02-04"))]
    assert (reports.chunks(year)[0][1] - reports.chunks(year)[0][0]).days + 1 == reports.MAX_DAYS_PER_CALL
    assert reports.chunks(days("2026-01-01", "2026-01-02", "2026-01-05"), size=5) == [
        (D("2026-01-01"), D("2026-01-02")),
        (D("2026-01-05"), D("2026-01-05")),
    ]
    assert reports.chunks([]) == []


# -- the stable schema --------------------------------------------------------------------------------------
BY_CAMPAIGN = reports.report_spec("advertiser/by-campaign")
DAY = D("2026-03-09")


def test_columns_known_in_order_then_unknown_sorted() -> None:
    rows = [{"zeta": 1, "clicks": 2, "campaign_id": 1}, {"alpha": "x", "name": "a"}]
    assert schema.columns(BY_CAMPAIGN, rows) == [*BY_CAMPAIGN.fields, "alpha", "zeta"]
    assert schema.columns(BY_CAMPAIGN, []) == list(BY_CAMPAIGN.fields)


def test_table_adds_day_types_metrics_and_sorts_rows() -> None:
    rows = [
        {"campaign_id": "10", "name": "b", "impressions": "1000", "clicks": 3.0, "amount": "1.5", "ctr": 0, "x": [1]},
        {"campaign_id": 9, "name": "a", "impressions": 5, "clicks": None, "amount": 2, "ecpa": None},
    ]
    cols, out = schema.table(BY_CAMPAIGN, DAY, rows)
    assert cols == [*BY_CAMPAIGN.fields, "x"]
    as_dicts = [dict(zip(cols, values, strict=True)) for values in out]
    assert [r["campaign_id"] for r in as_dicts] == [9, 10]  # numeric order, not text order
    first, second = as_dicts
    assert first["day"] == second["day"] == "2026-03-09"
    assert (first["impressions"], first["clicks"], first["amount"], first["ecpa"], first["x"]) == (
        5,
        None,
        2.0,
        None,
        None,
    )
    assert type(first["amount"]) is float
    assert (second["impressions"], second["clicks"], second["amount"], second["ctr"]) == (1000, 3, 1.5, 0.0)
    assert type(second["clicks"]) is int and second["x"] == [1]  # unknown fields kept as they come


def test_table_is_independent_of_the_answer_order() -> None:
    rows = [{"campaign_id": i, "name": f"n{i % 3}", "clicks": i % 2} for i in range(20)]
    assert schema.table(BY_CAMPAIGN, DAY, rows) == schema.table(BY_CAMPAIGN, DAY, list(reversed(rows)))


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"clicks": "many"}, "clicks"),
        ({"clicks": 1.5}, "clicks"),
        ({"clicks": True}, "clicks"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": {"v": 1}}, "amount"),
        ({"campaign_id": "x"}, "campaign_id"),
        ({"campaign_id": "12.5"}, "campaign_id"),
        ({"campaign_id": "1_000"}, "campaign_id"),
        ({"campaign_id": 9007199254740994.0}, "campaign_id"),  # a float this big may already be rounded
        ({"campaign_id": str(2**63)}, "campaign_id"),  # beyond int64 (Parquet, SQL BIGINT)
        ({"campaign_id": "1e30"}, "campaign_id"),
        ({"clicks": float("inf")}, "clicks"),
        ({"name": {"first": "a"}}, "name"),
        ({"day": "2026-03-08"}, "day"),
        # Unknown fields, nested too: a non-finite number is named by its path.
        ({"zeta": float("inf")}, "zeta"),
        ({"zeta": float("nan")}, "zeta"),
        ({"meta": {"ok": 1.5, "score": [0, float("-inf")]}}, "meta.score[1]"),
    ],
)
def test_table_rejects_values_of_the_wrong_type(row: dict[str, Any], field: str) -> None:
    with pytest.raises(TrafficStarsDataError) as info:
        schema.table(BY_CAMPAIGN, DAY, [row])
    assert (info.value.report, info.value.field, info.value.day) == ("advertiser/by-campaign", field, "2026-03-09")


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("9007199254740993", 9007199254740993),  # 2**53 + 1: through float it would be ...992
        (9007199254740993, 9007199254740993),
        (" -42 ", -42),
        ("12.0", 12),
        ("1.2e3", 1200),
        (12.0, 12),
        (2.0**53, 2**53),
        (str(2**63 - 1), 2**63 - 1),
        (str(-(2**63)), -(2**63)),
    ],
)
def test_whole_numbers_never_pass_through_float(value: Any, number: int) -> None:
    cols, out = schema.table(BY_CAMPAIGN, DAY, [{"campaign_id": value, "clicks": value}])
    row = dict(zip(cols, out[0], strict=True))
    assert row["campaign_id"] == row["clicks"] == number and type(row["clicks"]) is int


def test_split_by_day_keeps_empty_days() -> None:
    spec = reports.report_spec("advertiser/by-day")
    rows = [{"day": "2026-03-03", "clicks": 1}, {"day": "2026-03-01", "clicks": 2}]
    grouped = schema.split_by_day(spec, rows, D("2026-03-01"), D("2026-03-03"))
    assert list(grouped) == days("2026-03-01", "2026-03-02", "2026-03-03")
    assert [len(v) for v in grouped.values()] == [1, 0, 1]
    for bad in ({"clicks": 1}, {"day": "2026-03-04"}, {"day": "yesterday"}):
        with pytest.raises(TrafficStarsDataError):
            schema.split_by_day(spec, [bad], D("2026-03-01"), D("2026-03-03"))


def test_answer_rows_accepts_a_list_of_objects_only() -> None:
    spec = reports.report_spec("advertiser/by-day")
    assert schema.answer_rows(spec, [{"a": 1}]) == [{"a": 1}]
    assert schema.answer_rows(spec, []) == []  # "no rows that day": the API's own answer
    for bad in ({"rows": []}, [1, 2], "text", [{"a": 1}, None]):
        with pytest.raises(TrafficStarsDataError):
            schema.answer_rows(spec, bad)


@pytest.mark.parametrize(
    ("date_from", "date_to", "day"),
    [("2026-03-09", "2026-03-09", "2026-03-09"), (D("2026-03-01"), D("2026-03-09"), "2026-03-01..2026-03-09")],
)
def test_an_answer_with_nothing_in_it_is_refused_naming_the_report_and_the_day(
    date_from: Any, date_to: Any, day: str
) -> None:
    """An empty body, a 204 and JSON null all reach here as None: never "no rows"."""
    spec = reports.report_spec("advertiser/by-day")
    with pytest.raises(TrafficStarsDataError) as info:
        schema.answer_rows(spec, None, date_from=date_from, date_to=date_to)
    assert (info.value.report, info.value.day, info.value.field) == ("advertiser/by-day", day, None)


def test_a_snapshot_is_filed_under_the_day_it_was_taken_in_the_report_zone() -> None:
    taken = datetime(2026, 3, 9, 23, 30, tzinfo=timezone.utc)
    assert reports.snapshot_day(taken, ZoneInfo("UTC")) == D("2026-03-09")
    assert reports.snapshot_day(taken, ZoneInfo("Europe/Berlin")) == D("2026-03-10")
    assert reports.snapshot_day(taken, ZoneInfo("America/New_York")) == D("2026-03-09")
