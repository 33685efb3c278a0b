"""Sphinx configuration of the documentation site: ``make docs`` builds it into build/docs (warnings are errors).

The pages are Markdown (MyST). The API reference is generated from the docstrings of the public modules, the
import paths the README documents; how-to guides include the example DAGs between ``[START howto_...]`` /
``[END howto_...]`` markers, so they show the code the tests run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))
# autodoc imports the hook and operators, so Airflow: give it a throwaway home, never the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ts-docs-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_trafficstars import __version__  # noqa: E402

project = "airflow-provider-trafficstars"
author = "airflow-provider-trafficstars developers"
copyright = "the airflow-provider-trafficstars developers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
# Screenshots of the site itself and notes that are not pages.
exclude_patterns = ["_build", "screenshots"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"TrafficStars provider {__version__}"
html_static_path = ["_static"]
html_logo = "../airflow_provider_trafficstars/integration-logos/trafficstars.svg"

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_typehints_format = "short"

# -n (nitpicky): every cross-reference must resolve. What is left unresolved on purpose, and why:
nitpicky = True
nitpick_ignore_regex = [
    # Other projects' objects (no intersphinx: the build must work offline).
    (r"py:.*", r"(airflow|requests|httpx|pendulum|tenacity|datetime|collections|typing|pathlib|pyarrow)\..*"),
    (r"py:.*", r"(Context|Any|Callable|Mapping|Sequence|Iterator|Iterable|TracebackType|Self|Path|Response)"),
    (r"py:.*", r"(BaseHook|BaseOperator|BaseSensorOperator|BaseTrigger|TriggerEvent|AirflowException)"),
    (r"py:.*", r"(PokeReturnValue|ObjectStoragePath|Asset|Connection|DateTime|Date|Duration|Timezone)"),
    (r"py:.*", r"(date|datetime|timedelta|OperatorLineage)"),
    (r"py:class", r"(int|str|float|bool|dict|list|tuple|bytes|object|None|type|Exception|ValueError)"),
    # Private modules behind the public ones (their names move in issue 17's client/ package; the public
    # import paths stay). A docstring may point at them; they are not part of the reference.
    (r"py:.*", r"(airflow_provider_trafficstars\.)?(_compat|_http|client|config|connection_fields|coverage)\b.*"),
    (r"py:.*", r"(airflow_provider_trafficstars\.)?(cursor|lease|rate_limit|redaction|report_files)\b.*"),
    (r"py:.*", r"(airflow_provider_trafficstars\.)?(report_storage|reports|campaigns|session_check)\b.*"),
    (r"py:.*", r"(airflow_provider_trafficstars\.)?(token_cache|transport|urls|waits|client)\b.*"),
    (r"py:.*", r"(airflow_provider_trafficstars\.)?(sensors|triggers)\.base\b.*"),
    (r"py:.*", r"(airflow_provider_trafficstars\.)?testing\.emulator_\w+\b.*"),
    # Private names (a leading underscore), anything inside a private module (client/_client.py, ...), and
    # the client classes the hook is built on.
    (r"py:.*", r"(.*\.)?_\w+"),
    (r"py:.*", r".*\._\w+\..*"),
    (r"py:.*", r"(rules|schema|campaigns|reports)\.\w+"),
    (r"py:.*", r"(TrafficStarsClient|TokenCache)"),
    (r"py:.*", r"\w+(Config|Spec|State|Clock|Store|Lease|Record|Limiter|Decision|Result|Backoff)\b"),
]
