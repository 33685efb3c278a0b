"""The throwaway Airflow home shared by the tests, the benchmarks and ``make demo``."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_trafficstars.testing import AirflowHome


def test_a_temporary_home_has_a_dags_folder_and_sqlite_in_it_and_goes_away() -> None:
    with AirflowHome.temporary("ts-home-test-") as home:
        assert home.path.is_dir() and home.path.name.startswith("ts-home-test-")
        assert home.dags_folder == home.path / "dags" and home.dags_folder.is_dir()
        assert home.db_url == f"sqlite:///{home.path}/airflow.db"
    assert not home.path.exists()


def test_env_drops_every_inherited_airflow_variable_and_sets_the_home(tmp_path: Path) -> None:
    base = {
        "PATH": "/bin",
        "AIRFLOW_HOME": "/home/dev/airflow",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW_CONN_TRAFFICSTARS_DEFAULT": "{}",
        "AIRFLOW_VAR_X": "y",
    }
    home = AirflowHome.at(tmp_path / "h", db_url="postgresql://db/x")
    env = home.env(base, AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")
    assert env["PATH"] == "/bin" and "AIRFLOW_VAR_X" not in env and "AIRFLOW_CONN_TRAFFICSTARS_DEFAULT" not in env
    assert "AIRFLOW__CORE__EXECUTOR" not in env
    assert env["AIRFLOW_HOME"] == str(home.path) and env["AIRFLOW__CORE__DAGS_FOLDER"] == str(home.dags_folder)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql://db/x"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False" and env["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "WARNING"
    # A Fernet key (32 random bytes, urlsafe base64), the same for every process on this home.
    assert len(base64.urlsafe_b64decode(env["AIRFLOW__CORE__FERNET_KEY"])) == 32
    assert AirflowHome.at(tmp_path / "h").env(base)["AIRFLOW__CORE__FERNET_KEY"] == env["AIRFLOW__CORE__FERNET_KEY"]


def test_activate_points_this_process_at_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {"PATH": "/bin", "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW_VAR_X": "y"}
    monkeypatch.setattr(os, "environ", environ)  # not the test session's own
    home = AirflowHome.at(tmp_path)
    home.activate(AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    assert environ == home.env({"PATH": "/bin"}, AIRFLOW__CORE__TEST_CONNECTION="Enabled")


def test_importing_it_does_not_import_airflow() -> None:
    # It must run before Airflow is imported: Airflow reads AIRFLOW_HOME once, at import.
    code = (
        "import sys, airflow_provider_trafficstars.testing._airflow_home\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'airflow'], 'airflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
