"""Where report objects may go and how each is written complete or absent: THE protocol table (README).

No Airflow imports: the transfer hands in ``ObjectStoragePath`` objects (anything with ``protocol``,
``path`` and an fsspec ``fs``). What each file system really does (read in its source, fsspec 2026.x):

- ``LocalFileSystem`` (``file://``, ``local://``, a plain absolute path): ``pipe_file`` writes in place, so
  a reader could see half an object. We write a hidden temporary file beside the target, flush and fsync it,
  and ``os.replace`` it into place (atomic within a folder on every POSIX file system, NFS included).
- ``S3FileSystem`` (s3fs: ``s3://``, ``s3a://``, ``s3n://``): one ``PutObject`` below 100 MB, else a
  multipart upload that S3 shows only once completed (aborted on failure).
- ``GCSFileSystem`` (gcsfs: ``gs://``, ``gcs://``): one simple upload, or a resumable upload whose object
  exists only once finalised.
- ``AzureBlobFileSystem`` (adlfs: ``abfs://``, ``abfss://``, ``adl://``, ``az://``): ``upload_blob``, one
  Put Blob or staged blocks committed by one Put Block List.
- ``MemoryFileSystem`` (``memory://``): one dict assignment.

Refused, before any API call: FTP (``STOR`` writes in place and a rename over an existing file is the
server's choice), SFTP/SSH (``pipe_file`` writes in place; sshfs's rename falls back to ``cp`` then ``rm``
on a server without posix-rename), HTTP(S) (not a store), a relative path (it depends on the worker's
working folder) and any file system not named here.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_trafficstars.client.errors import TrafficStarsDestinationError
from airflow_provider_trafficstars.client.reports._files import object_url

RENAME, PUT = "rename", "put"
_LOCAL = "fsspec.implementations.local.LocalFileSystem"
#: fsspec file systems whose one ``pipe_file`` makes an object visible only once it is whole.
ATOMIC_PUT = frozenset(
    {
        "s3fs.core.S3FileSystem",
        "gcsfs.core.GCSFileSystem",
        "adlfs.spec.AzureBlobFileSystem",
        "fsspec.implementations.memory.MemoryFileSystem",
    }
)
#: Protocols refused by name (before their file system is even opened), and why.
REFUSED = {
    "ftp": "FTP writes an object in place (a reader can see half of it) and may refuse to rename over one",
    "sftp": "SFTP writes in place, and Airflow's sftp file system renames by copying on servers without posix-rename",
    "ssh": "SFTP writes in place, and Airflow's sftp file system renames by copying on servers without posix-rename",
    "http": "HTTP is not a store",
    "https": "HTTP is not a store",
}
#: Where the file system of a protocol comes from, for the error when it is missing.
_PROVIDERS = {
    **dict.fromkeys(("s3", "s3a", "s3n"), "apache-airflow-providers-amazon[s3fs]"),
    **dict.fromkeys(("gs", "gcs"), "apache-airflow-providers-google"),
    **dict.fromkeys(("abfs", "abfss", "adl"), "apache-airflow-providers-microsoft-azure"),
}
_RELATIVE = (
    "a local path must be absolute (file:///data/ts/... or /data/ts/...): a relative one lands in whatever "
    "folder the worker runs in"
)
_WHAT_TO_DO = (
    "write to s3://, gs:// or abfs:// (an object store), or to a local or mounted folder "
    "(file:///path or /path; mount an SFTP or FTP server with sshfs or curlftpfs)"
)


class StoragePath(Protocol):
    """What is used of an ``ObjectStoragePath``."""

    @property
    def protocol(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def fs(self) -> Any: ...


def _shown(destination: str) -> str:
    """The destination without a password it may carry (``scheme://user:secret@host/...``)."""
    parts = urlsplit(destination)
    if "@" not in parts.netloc:
        return destination
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _absolute(template: str) -> bool:
    """Whether a local destination names an absolute path: ``/x``, ``file:///x``, ``file:/x``."""
    scheme, colon, rest = template.partition(":")
    if not colon or "/" in scheme:  # a plain path
        rest = template
    elif rest.startswith("//"):  # file://host/x: the host part must be empty
        rest = rest[2:]
    return rest.startswith("/")


def _refuse(protocol: str, destination: str, why: str) -> TrafficStarsDestinationError:
    shown = _shown(destination)
    return TrafficStarsDestinationError(f"Destination {shown!r}: {why}.", protocol=protocol, destination=shown)


def write_method(target: StoragePath, destination: str | None = None) -> str:
    """Return how an object at ``target`` is written complete or absent: ``"rename"`` or ``"put"``.

    THE decision of the README's protocol table: :func:`prepare` (before any API call) and
    :func:`write_object` both make it here.

    :param destination: what the errors name (the template); by default the target's own URL.

    :raises TrafficStarsDestinationError: for a protocol or file system that cannot guarantee it, a relative
        local path, or a protocol whose file system is not installed; naming the protocol and what to do.
    """
    protocol = target.protocol or ""
    where = destination or (f"{protocol}://{target.path}" if protocol else target.path)
    if protocol in REFUSED:
        raise _refuse(protocol, where, f"{REFUSED[protocol]}; {_WHAT_TO_DO}")
    try:
        fs = target.fs
    except (ImportError, ValueError) as error:  # "No filesystem registered for scheme gs", no s3fs
        provider = _PROVIDERS.get(protocol, "the Airflow provider of that store")
        raise _refuse(
            protocol, where, f"no file system for {protocol or 'plain'} paths is installed: install {provider}"
        ) from error
    kinds = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(fs).__mro__}
    if _LOCAL in kinds:
        if not target.path.startswith("/"):
            raise _refuse(
                protocol,
                where,
                "a local path must be absolute (file:///data/ts/... or /data/ts/...): a relative "
                "one lands in whatever folder the worker runs in",
            )
        return RENAME
    if kinds & ATOMIC_PUT:
        return PUT
    raise _refuse(
        protocol, where, f"{type(fs).__name__} is not known to write an object complete or not at all; {_WHAT_TO_DO}"
    )


def prepare(template: str, open_path: Callable[[str], StoragePath]) -> str:
    """Check, before any API call, that objects of ``template`` can be written complete or absent.

    A local destination's fixed folder (the part before the first placeholder) is created and proven
    writable here, so that a missing or read-only folder fails the task before it spends any API call.

    :param template: a checked destination template (``report_files.check_destination``).
    :param open_path: makes the storage path of a URL (the transfer: ``ObjectStoragePath`` with its conn).
    :return: ``"rename"`` or ``"put"``.
    :raises TrafficStarsDestinationError: see :func:`write_method`, or a folder that cannot be written.
    """
    sample = open_path(object_url(template, "report", date(2000, 1, 1), "csv"))  # any object of it will do
    method = write_method(sample, template)
    if method == RENAME and not _absolute(template):
        # fsspec makes file://data/x absolute against the worker's working folder: refuse it too
        raise _refuse(sample.protocol or "", template, _RELATIVE)
    if method == RENAME:
        fixed = template[: template.index("{")]
        folder = open_path(fixed[: fixed.rfind("/") + 1] or "/").path
        probe = os.path.join(folder, f".trafficstars-probe-{uuid.uuid4().hex}.tmp")
        try:
            os.makedirs(folder, exist_ok=True)
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.unlink(probe)
        except OSError as error:
            raise _refuse(
                sample.protocol or "",
                template,
                f"cannot write into the folder {folder!r} ({error.strerror or error}): create it or let the "
                "worker's user write there, or choose another destination",
            ) from None
    return method


def write_object(target: StoragePath, data: bytes) -> None:
    """Write ``data`` so that the object appears at its final path only when complete.

    :raises TrafficStarsDestinationError: see :func:`write_method` (before anything is written).
    """
    if write_method(target) == RENAME:
        _write_local(target.path, data)
    else:
        target.fs.pipe_file(target.path, data)


def _write_local(final: str, data: bytes) -> None:
    directory, name = os.path.split(final)
    os.makedirs(directory or ".", exist_ok=True)
    temporary = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as handle:  # "x": never reuse a file, created with the umask's mode
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash; some file systems refuse this
        folder = os.open(directory or ".", os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
