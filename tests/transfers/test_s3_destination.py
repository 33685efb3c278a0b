"""The report ETL example into a real S3 API (moto's server on 127.0.0.1), the way most users run it.

Airflow's ``ObjectStoragePath`` with the amazon provider's s3fs file system and an ``aws`` connection whose
extra holds ``endpoint_url``; then the load example reads the days back from the bucket.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_trafficstars.client.reports import _files as report_files
from airflow_provider_trafficstars.client.reports._catalogue import CAMPAIGNS_SPEC, REPORTS
from airflow_provider_trafficstars.testing.emulator import TrafficStarsEmulator
from tests.airflow_compat import dag_test_without_date, delete_asset_events
from tests.helpers import EXAMPLE_DAGS, install_dag, run_xcoms, task_states

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BUCKET, PREFIX, CONN_ID = "trafficstars-lake", "exports", "ts_s3"
TASKS = {"advertiser_by_day": "advertiser/by-day", "advertiser_by_campaign": "advertiser/by-campaign",
         "advertiser_by_country": "advertiser/by-country", "campaigns": "campaigns"}  # fmt: skip
RANGE = {"date_from": "2026-02-03", "date_to": "2026-02-04"}  # the README's re-export recipe; lookback adds 2 days


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server (its server mode: real HTTP) in a thread on 127.0.0.1, an ephemeral port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A versioned bucket and the ``aws`` connection ``ts_s3`` to it (credentials and ``endpoint_url`` in it)."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never look for instance credentials
    extra = {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}
    conn = {"conn_type": "aws", "login": "testing", "password": "testing-secret", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield client
    for version in client.list_object_versions(Bucket=BUCKET).get("Versions", []):
        client.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])
    client.delete_bucket(Bucket=BUCKET)
    delete_asset_events()  # the load example of a later test loads each Asset's latest event


def bucket(client: Any) -> dict[str, bytes]:
    """Every object of the bucket (read with boto3, not through the file system that wrote them)."""
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: client.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in sorted(keys)}


def tables(path: Path) -> dict[str, tuple[int, int]]:
    conn = sqlite3.connect(path)
    try:
        return {
            report: conn.execute(f"SELECT COUNT(*), COUNT(DISTINCT day) FROM trafficstars_{task}").fetchone()
            for task, report in TASKS.items()
        }
    finally:
        conn.close()


def test_the_etl_example_into_s3_writes_complete_objects_identical_on_a_rerun_and_the_load_reads_them(
    airflow_db: Path, clean_variables: None, ts_conn: str, emulator: TrafficStarsEmulator, s3: Any,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("TRAFFICSTARS_REPORT_STORAGE_CONN_ID", CONN_ID)  # read when the DAG files are parsed
    warehouse = tmp_path / "warehouse.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRAFFICSTARS_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
    )
    etl = install_dag(EXAMPLE_DAGS / "example_trafficstars_report_etl.py")
    load = install_dag(EXAMPLE_DAGS / "example_trafficstars_report_load.py")
    conf = {"base_url": f"s3://{BUCKET}/{PREFIX}/", **RANGE}

    run = dag_test_without_date(etl, run_conf=conf)
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    xcoms = run_xcoms(run)
    written = {item["url"]: item for task in TASKS for item in xcoms[(task, -1)]}
    first = bucket(s3)
    # Exactly the objects the tasks reported, nothing else (no temporary object, no unfinished upload).
    assert sorted(first) == sorted(url.removeprefix(f"s3://{BUCKET}/") for url in written)
    assert len(first) == 3 * 4 + 1 and not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    for key, data in first.items():
        item = written[f"s3://{BUCKET}/{key}"]
        report = next(r for r in TASKS.values() if key.startswith(f"{PREFIX}/{r}/"))
        spec = CAMPAIGNS_SPEC if report == "campaigns" else REPORTS[report]
        rows = report_files.decode("csv", data, report=report)  # a cut-short object fails here
        assert data.startswith(",".join(spec.fields).encode()) and len(rows) == item["rows"] > 0
        assert {r["day"] for r in rows} == {item["day"]}
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ContentLength"] == len(data) and head["ETag"].strip('"') == hashlib.md5(data).hexdigest()

    # A rerun writes every object again (a second version of each key) with the same bytes.
    rerun = dag_test_without_date(etl, run_conf=conf)
    assert set(task_states(rerun).values()) == {"success"}
    snapshot_day = xcoms[("campaigns", -1)][0]["day"]
    if run_xcoms(rerun)[("campaigns", -1)][0]["day"] != snapshot_day:  # midnight (UTC) passed in between
        first = {k: v for k, v in first.items() if "/campaigns/" not in k}
    again = bucket(s3)
    assert {k: again[k] for k in first} == first
    versions = s3.list_object_versions(Bucket=BUCKET)
    assert not versions.get("DeleteMarkers") and not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    counts: dict[str, int] = {}
    for version in versions["Versions"]:
        counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    assert {counts[k] for k in first} == {2}

    # The load example reads the days back from the bucket (a manual run: each Asset's latest event).
    loaded = dag_test_without_date(
        load, run_conf={"base_url": conf["base_url"]}
    )  # the load trusts its own base_url only
    assert task_states(loaded) == {"load": "success"}
    assert tables(warehouse) == {
        "advertiser/by-day": (4, 4),
        "advertiser/by-campaign": (4 * 3, 4),
        "advertiser/by-country": (4 * 5, 4),
        "campaigns": (3, 1),
    }
