"""Where report objects may go and how each is written complete or absent (pure logic, real files)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_trafficstars.client.reports import _storage as report_storage
from airflow_provider_trafficstars.exceptions import TrafficStarsConfigError, TrafficStarsDestinationError


class Untouchable:
    """A file system that must not be opened: refusing by protocol name comes first."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        raise AssertionError("the file system was opened")


@dataclass
class Target:
    protocol: str
    path: str
    fs: Any = field(default_factory=LocalFileSystem)


def local(url: str) -> Target:
    """What ``ObjectStoragePath`` makes of a ``file://`` URL or a plain path: no trailing slash, and
    ``file://data/x`` made absolute against the working folder (fsspec's LocalFileSystem does that)."""
    for scheme in ("file", "local"):
        if url.startswith(f"{scheme}://"):
            return Target(scheme, os.path.abspath(url.removeprefix(f"{scheme}://")))
    if url.startswith("file:/"):
        return Target("file", url.removeprefix("file:").rstrip("/") or "/")
    return Target("", url.rstrip("/") or "/")


def test_local_paths_are_renamed_into_place_and_object_stores_get_one_put() -> None:
    assert report_storage.write_method(Target("file", "/data/ts/x.csv")) == "rename"
    assert report_storage.write_method(Target("", "/data/ts/x.csv")) == "rename"  # a plain path
    assert report_storage.write_method(Target("local", "/data/ts/x.csv")) == "rename"
    assert report_storage.write_method(Target("memory", "/bucket/x.csv", MemoryFileSystem())) == "put"
    s3fs = pytest.importorskip("s3fs", reason="s3fs (apache-airflow-providers-amazon[s3fs]) is not installed")
    assert report_storage.write_method(Target("s3", "bucket/x.csv", s3fs.S3FileSystem(anon=True))) == "put"


@pytest.mark.parametrize("protocol", ["ftp", "sftp", "ssh", "http", "https"])
def test_protocols_that_cannot_write_complete_or_absent_are_refused_by_name(protocol: str) -> None:
    @dataclass
    class Unopened:
        protocol: str
        path: str
        fs = Untouchable()

    with pytest.raises(TrafficStarsDestinationError) as info:
        report_storage.write_method(Unopened(protocol, "/ts/x.csv"), f"{protocol}://host/ts/{{day}}.csv")
    assert (info.value.protocol, info.value.destination) == (protocol, f"{protocol}://host/ts/{{day}}.csv")
    assert isinstance(info.value, TrafficStarsConfigError)


def test_a_file_system_not_known_to_be_atomic_is_refused() -> None:
    wrapped = DirFileSystem(path="/tmp", fs=LocalFileSystem())  # writes in place, through another fs
    with pytest.raises(TrafficStarsDestinationError) as info:
        report_storage.write_method(Target("dir", "/x.csv", wrapped))
    assert info.value.protocol == "dir" and "DirFileSystem" in str(info.value)


def test_a_store_without_its_file_system_names_the_provider_to_install() -> None:
    @dataclass
    class Unregistered:
        protocol: str
        path: str

        @property
        def fs(self) -> Any:
            raise ValueError(f"No filesystem registered for scheme {self.protocol}")

    with pytest.raises(TrafficStarsDestinationError) as info:
        report_storage.write_method(Unregistered("gs", "bucket/x.csv"))
    assert info.value.protocol == "gs" and "apache-airflow-providers-google" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("template", ["data/ts/{day}.csv", "file://data/ts/{day}.csv", "local://data/{day}.csv"])
def test_a_relative_local_path_is_refused(template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TrafficStarsDestinationError):
        report_storage.prepare(template, local)
    assert list(tmp_path.iterdir()) == []


def test_a_password_in_the_destination_is_never_shown() -> None:
    template = "ftp://reports:hunter22@ftp.example.com/ts/{day}.csv"
    with pytest.raises(TrafficStarsDestinationError) as info:
        report_storage.prepare(template, lambda url: Target("ftp", url))
    assert "hunter22" not in str(info.value) and "hunter22" not in info.value.destination
    assert info.value.destination == "ftp://***@ftp.example.com/ts/{day}.csv"


@pytest.mark.parametrize("scheme", ["", "file://", "file:", "local://"])
def test_prepare_creates_the_fixed_folder_of_a_local_destination(tmp_path: Path, scheme: str) -> None:
    base = f"{scheme}{tmp_path}/new/lake"
    assert report_storage.prepare(f"{base}/{{report}}/day={{day}}/part.{{ext}}", local) == "rename"
    assert (tmp_path / "new" / "lake").is_dir()
    assert list((tmp_path / "new" / "lake").iterdir()) == []  # the probe is gone


def test_a_folder_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lake").write_text("a file where the folder should be")
    with pytest.raises(TrafficStarsDestinationError) as info:
        report_storage.prepare(f"file://{tmp_path}/lake/{{report}}/{{day}}.{{ext}}", local)
    assert info.value.protocol == "file" and str(tmp_path / "lake") in str(info.value)
    assert (tmp_path / "lake").read_text() == "a file where the folder should be"


# -- writing -------------------------------------------------------------------------------------------------
def test_a_local_object_is_renamed_into_place_with_the_umask_mode(tmp_path: Path) -> None:
    final = tmp_path / "a" / "b" / "part.csv"
    report_storage.write_object(Target("file", str(final)), b"one")
    inode = final.stat().st_ino
    report_storage.write_object(Target("", str(final)), b"two")  # a rerun (here through a plain path)
    assert final.read_bytes() == b"two" and final.stat().st_ino != inode  # replaced, not written in place
    assert sorted(p.name for p in final.parent.iterdir()) == ["part.csv"]
    umask = os.umask(0)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o666 & ~umask  # not a temp file's 0600


def test_a_failed_local_write_leaves_neither_the_object_nor_a_temporary_file(tmp_path: Path) -> None:
    final = tmp_path / "part.csv"
    final.mkdir()  # the rename onto it fails after the temporary file was written
    with pytest.raises(OSError):
        report_storage.write_object(Target("file", str(final)), b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["part.csv"] and final.is_dir()


def test_an_object_store_gets_one_put() -> None:
    fs = MemoryFileSystem()
    fs.store.clear()
    report_storage.write_object(Target("memory", "/bucket/x/part.csv", fs), b"data")
    assert fs.find("/bucket") == ["/bucket/x/part.csv"] and fs.cat_file("/bucket/x/part.csv") == b"data"
    fs.store.clear()


def test_writing_to_a_refused_destination_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TrafficStarsDestinationError):
        report_storage.write_object(Target("file", "relative/part.csv"), b"data")
    assert not os.path.exists("relative")
