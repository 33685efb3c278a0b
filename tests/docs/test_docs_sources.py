"""What the documentation site promises about its sources, checked without building it (fast, no Sphinx).

The how-to guides include the example DAGs between ``[START howto_...]`` / ``[END howto_...]`` markers; the
troubleshooting page explains every typed error; the diagram is the output of its script; the release
metadata points at pages and a logo that exist.
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_trafficstars import _EXPORTS
from airflow_provider_trafficstars.get_provider_info import LOGO, get_provider_info

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
EXAMPLES = REPO / "example_dags"
INCLUDE = re.compile(r"```\{literalinclude\} (?P<path>\S+)\n(?P<options>(?::[\w-]+:.*\n)*)```")
MARKER = re.compile(r"^\s*# \[(START|END) (howto_\w+)\]$", re.MULTILINE)


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def includes() -> list[tuple[Path, Path, dict[str, str]]]:
    """Return ``(page, included file, options)`` for every literalinclude of the site."""
    found = []
    for page in pages():
        for match in INCLUDE.finditer(page.read_text()):
            options = dict(re.findall(r":([\w-]+): (.*)", match["options"]))
            options = {k: v.strip().strip('"') for k, v in options.items()}
            found.append((page, (page.parent / match["path"]).resolve(), options))
    return found


def test_every_marker_pair_the_docs_include_exists_once_in_order_around_code() -> None:
    used = includes()
    assert len(used) >= 10, "the how-to guides include the example DAGs"
    for page, source, options in used:
        assert source.is_file(), f"{page.name} includes {source}, which does not exist"
        assert source.parent == EXAMPLES, f"{page.name}: how-to code comes from example_dags/, not {source}"
        text = source.read_text()
        start, end = options["start-after"], options["end-before"]
        assert re.fullmatch(r"\[START (howto_\w+)\]", start), (page.name, start)
        assert end == start.replace("[START", "[END"), (page.name, start, end)
        assert text.count(start) == 1 and text.count(end) == 1, f"{source.name}: {start} must appear once"
        code = text[text.index(start) + len(start) : text.index(end)]
        assert code.strip().count("\n") >= 1, f"{source.name}: nothing between {start} and {end}"


def test_every_marker_in_the_examples_is_paired_and_used_by_a_page() -> None:
    used = {options["start-after"][len("[START ") : -1] for _, _, options in includes()}
    for example in sorted(EXAMPLES.glob("*.py")):
        markers = MARKER.findall(example.read_text())
        names = [name for kind, name in markers if kind == "START"]
        assert [name for kind, name in markers if kind == "END"] == names, f"{example.name}: unpaired markers"
        assert markers == [(kind, name) for name in names for kind in ("START", "END")], f"{example.name}: nested"
        assert set(names) <= used, f"{example.name}: markers no page includes: {set(names) - used}"


def test_every_operator_sensor_and_the_transfer_has_a_how_to_guide_that_shows_it() -> None:
    tasks = [name for name in _EXPORTS if name.endswith(("Operator", "Sensor"))]
    assert len(tasks) == 9
    guides = {page: page.read_text() for page in (DOCS / "howto").glob("*.md") if page.name != "index.md"}
    for name in tasks:
        (page,) = [p for p, text in guides.items() if text.startswith("# ") and name in text.splitlines()[0]]
        code = "".join(
            source.read_text().split(options["start-after"])[1].split(options["end-before"])[0]
            for p, source, options in includes()
            if p == page
        )
        assert f"{name}(" in code, f"{page.name}: the included example code does not use {name}"


def exception_classes() -> list[type]:
    """Every exception class the package exports (the public modules, and the client's error tree they all
    come from)."""
    modules = {_EXPORTS[name] for name in _EXPORTS} | {"airflow_provider_trafficstars.client.errors"}
    found = set()
    for module_name in modules:
        module = importlib.import_module(module_name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, Exception)
                and obj.__module__.startswith("airflow_provider_trafficstars")
                and obj.__name__[0] != "_"
            ):
                found.add(obj)
    return sorted(found, key=lambda c: c.__name__)


def test_troubleshooting_explains_every_typed_error() -> None:
    from airflow_provider_trafficstars.exceptions import TrafficStarsError

    classes = exception_classes()
    assert len(classes) >= 12 and all(issubclass(c, TrafficStarsError) for c in classes)
    text = (DOCS / "troubleshooting.md").read_text()
    sections = dict(re.findall(r"^### (\w+)\n(.*?)(?=^#{1,3} )", text, re.MULTILINE | re.DOTALL))
    for cls in classes:
        section = sections.get(cls.__name__)
        assert section, f"docs/troubleshooting.md has no section for {cls.__name__}"
        link = f"airflow_provider_trafficstars.exceptions.{cls.__name__}`"  # the public path of every error
        assert link in section, f"{cls.__name__}: no link to its API reference"
        assert "**What it means.**" in section and "**What to do.**" in section, cls.__name__


def test_the_committed_diagram_is_the_output_of_its_script() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "diagrams.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_installation_page_has_the_constraints_command_of_every_tested_airflow() -> None:
    (versions,) = re.findall(r'^DEFAULT_VERSIONS="([^"]+)"$', (REPO / "scripts" / "matrix.sh").read_text(), re.M)
    text = (DOCS / "installation.md").read_text()
    for version in versions.split():
        command = f'pip install -c constraints/airflow-{version}-py3.11.txt "apache-airflow=={version}" .'
        assert command in text, f"docs/installation.md lacks: {command}"
        assert (REPO / "constraints" / f"airflow-{version}-py3.11.txt").is_file()


def test_the_provider_info_points_at_how_to_pages_and_a_logo_that_exist() -> None:
    info = get_provider_info()
    (integration,) = info["integrations"]
    guides = list(integration["how-to-guide"]) + [t["how-to-guide"] for t in info["transfers"]]
    assert len(guides) == 9
    for guide in guides:
        assert guide.startswith("/docs/"), guide  # Airflow's schema: paths under /docs/
        assert (REPO / guide.lstrip("/")).is_file(), guide
    assert integration["tags"] and "asset-uris" not in info  # no trafficstars:// asset scheme is handled
    logo = REPO / "airflow_provider_trafficstars" / LOGO
    assert logo.read_text().lstrip().startswith("<svg") and "</svg>" in logo.read_text()


def test_the_changelog_follows_keep_a_changelog() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n") and "keepachangelog.com" in text
    releases = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert releases[0] == "[Unreleased]", releases
    for release in releases[1:]:
        assert re.fullmatch(r"\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", release), release
    kinds = set(re.findall(r"^### (.+)$", text, re.MULTILINE))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, kinds


@pytest.mark.parametrize("page", ["index.md", "changelog.md", "api.md", "troubleshooting.md"])
def test_the_landing_pages_exist(page: str) -> None:
    assert (DOCS / page).is_file()
