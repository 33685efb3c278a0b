"""A throwaway Airflow home for tests, benchmarks and demos (stdlib only: it never imports Airflow).

Airflow reads ``AIRFLOW_HOME`` and its settings once, when it is first imported, so a process that wants
its own home sets it up before that: either in its own environment (:meth:`AirflowHome.activate`, as the
test suite's ``tests/helpers.py`` does) or in the environment of the Airflow processes it starts
(:meth:`AirflowHome.env`, as the benchmarks and ``make demo`` do)::

    home = AirflowHome.temporary()        # a new temp dir with a dags/ folder, SQLite in it
    subprocess.run(["airflow", "db", "migrate"], env=home.env(), check=True)
    ...
    home.remove()

Every inherited ``AIRFLOW_*`` variable (settings, ``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*``) is dropped, so a
developer's own Airflow configuration never leaks into the throwaway one.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["AirflowHome"]

_INHERITED = "AIRFLOW_"  # AIRFLOW_HOME, AIRFLOW__SECTION__KEY, AIRFLOW_CONN_*, AIRFLOW_VAR_*


@dataclass(frozen=True)
class AirflowHome:
    """An Airflow home directory, its DAGs folder and its metadata DB URL.

    :param path: the ``AIRFLOW_HOME`` directory.
    :param db_url: the metadata DB's SQLAlchemy URL; default SQLite in ``path/airflow.db``.
    """

    path: Path
    db_url: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path).resolve())
        if not self.db_url:
            object.__setattr__(self, "db_url", f"sqlite:///{self.path / 'airflow.db'}")

    @classmethod
    def temporary(cls, prefix: str = "ts-airflow-home-", *, db_url: str = "") -> AirflowHome:
        """Create a home in a new temp directory (remove it with :meth:`remove` or a ``with`` block).

        :param prefix: the temp directory's name prefix.
        :param db_url: another metadata DB than SQLite in the home (e.g. a throwaway PostgreSQL database).
        """
        return cls.at(Path(tempfile.mkdtemp(prefix=prefix)), db_url=db_url)

    @classmethod
    def at(cls, path: Path | str, *, db_url: str = "") -> AirflowHome:
        """Use ``path`` as a home, creating it and its DAGs folder where missing (nothing is deleted).

        :param path: the ``AIRFLOW_HOME`` directory.
        :param db_url: the metadata DB's SQLAlchemy URL; default SQLite in the home.
        """
        home = cls(Path(path), db_url)
        home.dags_folder.mkdir(parents=True, exist_ok=True)
        return home

    @property
    def dags_folder(self) -> Path:
        return self.path / "dags"

    def fernet_key(self) -> str:
        """Return the home's Fernet key, made once, so that Variables and Connections are encrypted as usual."""
        key_file = self.path / "fernet.key"
        if not key_file.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            key_file.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
        return key_file.read_text().strip()

    def env(self, base: Mapping[str, str] | None = None, /, **settings: str) -> dict[str, str]:
        """Return an environment for Airflow on this home.

        :param base: the environment to start from (default ``os.environ``); its ``AIRFLOW_*`` variables are
            dropped.
        :param settings: more variables, e.g. ``AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING"``.
        """
        source = os.environ if base is None else base
        env = {name: value for name, value in source.items() if not name.startswith(_INHERITED)}
        env.update(
            AIRFLOW_HOME=str(self.path),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=self.db_url,
            AIRFLOW__CORE__FERNET_KEY=self.fernet_key(),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__UNIT_TEST_MODE="False",
        )
        env.update(settings)
        return env

    def activate(self, **settings: str) -> None:
        """Point this process at the home, in ``os.environ``. Call it before anything imports Airflow.

        :param settings: more variables, as for :meth:`env`.
        """
        wanted = self.env(**settings)
        for name in [name for name in os.environ if name not in wanted]:
            del os.environ[name]
        os.environ.update(wanted)

    def remove(self) -> None:
        """Delete the home directory and everything in it (the SQLite DB, logs, DAGs)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> AirflowHome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
