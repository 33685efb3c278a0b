#!/usr/bin/env bash
# The test suite on every Airflow version the package claims, each in its own virtualenv.
#
#   scripts/matrix.sh                    # every version of MATRIX_VERSIONS (default below)
#   scripts/matrix.sh 2.11.2 3.0.6       # just these
#   MATRIX_FRESH=1 scripts/matrix.sh     # rebuild the virtualenvs from scratch
#
# Each version gets .venv-airflow-<version>, installed with constraints/airflow-<version>-py<X.Y>.txt
# (reinstalled from scratch when pyproject.toml or that file changes) by uv, which resolves and installs
# Airflow in about 15 s instead of pip's 90 (MATRIX_INSTALLER=pip uses pip; uv itself is pip-installed, pinned,
# into build/uv on first use), then runs
# `pytest -m "not browser and not services"`: the browser test drives the Airflow 3.3 UI and the
# PostgreSQL/Redis/Celery tests need the `distributed` extra; `make test` runs both on the default version.
# Logs and a summary (install and test seconds, pytest's counts) go to build/matrix/. Exits non-zero when
# any version fails, after running them all.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
DEFAULT_VERSIONS="2.11.2 3.0.6 3.1.8 3.2.2 3.3.2"
if [ "$#" -gt 0 ]; then versions="$*"; else versions="${MATRIX_VERSIONS:-$DEFAULT_VERSIONS}"; fi
MARKERS="${MATRIX_MARKERS:-not browser and not services}"
OUT="build/matrix"
mkdir -p "$OUT"
INSTALLER="${MATRIX_INSTALLER:-uv}"
UV_VERSION="0.13.9"
uv="build/uv/bin/uv"
if [ "$INSTALLER" = uv ] && [ "$("$uv" --version 2>/dev/null)" != "uv $UV_VERSION" ]; then
    rm -rf build/uv
    if ! { "$PYTHON" -m venv build/uv && build/uv/bin/python -m pip install -q --disable-pip-version-check \
        "uv==$UV_VERSION"; } >"$OUT/uv-install.log" 2>&1; then
        echo "could not install uv $UV_VERSION (see $OUT/uv-install.log): installing with pip"
        INSTALLER=pip
    fi
fi
# install_venv <venv> <airflow version> [pip constraint args...]
install_venv() {
    local venv="$1" version="$2"
    shift 2
    if [ "$INSTALLER" = uv ]; then
        # --seed: the packaging test runs the venv's `python -m pip`.
        "$uv" venv -q --seed --python "$PYTHON" "$venv" &&
            VIRTUAL_ENV="$venv" "$uv" pip install -q "$@" "apache-airflow==$version" -e ".[test]"
    else
        "$PYTHON" -m venv "$venv" &&
            "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@" "apache-airflow==$version" -e ".[test]"
    fi
}
py_minor="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
summary="$OUT/summary.md"
printf '| Airflow | result | tests (pytest summary) | install s | test s |\n|---|---|---|---|---|\n' >"$summary"
failed=()
started_all=$(date +%s)

for version in $versions; do
    venv=".venv-airflow-$version"
    constraints="constraints/airflow-$version-py$py_minor.txt"
    log="$OUT/airflow-$version.log"
    : >"$log"
    echo "=== Airflow $version (Python $py_minor) -> $venv ($INSTALLER)"

    pin=()
    if [ -f "$constraints" ]; then
        pin=(-c "$constraints")
    else
        echo "WARNING: no $constraints: installing unpinned (not reproducible; old versions may break)" | tee -a "$log"
    fi
    stamp="$(cat pyproject.toml "${constraints}" 2>/dev/null | sha256sum | cut -c1-16)"

    t0=$(date +%s)
    if [ "${MATRIX_FRESH:-0}" = 1 ] || [ "$(cat "$venv/.matrix-stamp" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$venv"
        if ! install_venv "$venv" "$version" "${pin[@]}" >>"$log" 2>&1; then
            echo "install FAILED (see $log)"
            tail -20 "$log"
            printf '| %s | install failed | - | %s | - |\n' "$version" "$(($(date +%s) - t0))" >>"$summary"
            failed+=("$version")
            continue
        fi
        echo "$stamp" >"$venv/.matrix-stamp"
    fi
    install_s=$(($(date +%s) - t0))

    t1=$(date +%s)
    "$venv/bin/python" -m pytest -q -m "$MARKERS" ${MATRIX_PYTEST_ARGS:-} 2>&1 | tee -a "$log" | tail -n 25
    status=${PIPESTATUS[0]}
    test_s=$(($(date +%s) - t1))
    counts="$(grep -E '^(=+ )?[0-9]+ (passed|failed)|no tests ran' "$log" | tail -1 | sed -E 's/^=+ //; s/ =+$//; s/ in [0-9.]+s.*//')"
    if [ "$status" -eq 0 ]; then result=green; else result="FAILED ($status)"; failed+=("$version"); fi
    printf '| %s | %s | %s | %s | %s |\n' "$version" "$result" "$counts" "$install_s" "$test_s" >>"$summary"
    echo "=== Airflow $version: $result, $counts; install ${install_s}s, tests ${test_s}s"
done

echo
echo "Version matrix (Python $py_minor, markers: $MARKERS), total $(($(date +%s) - started_all)) s:"
cat "$summary"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
