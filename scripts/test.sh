#!/usr/bin/env bash
# `make test` after `make setup`: lint, migrations in sync with the models, the pytest suite.
# Extra arguments go to pytest (make test PYTEST_ARGS="-k open311 -x").
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
STARTED=$SECONDS

step "Lint (ruff check .)"
"$VENV/bin/ruff" check .

# The layers (db < layers < reports < hotspots < fieldteams < maps), no import cycles, and the
# workflow as the one writer: the contracts in pyproject.toml's [tool.importlinter].
step "Architecture (lint-imports)"
"$VENV/bin/lint-imports"

step "Migrations match the models (manage.py makemigrations --check --dry-run)"
"$VPY" manage.py makemigrations --check --dry-run

# pytest uses geo_ops.settings.test and a separate test_<name> database it keeps between runs
# (--reuse-db, in pyproject.toml); the development database is never touched.
step "Tests (pytest)"
DJANGO_SETTINGS_MODULE=geo_ops.settings.test "$VENV/bin/pytest" "$@"
step "All checks passed in $((SECONDS - STARTED)) s"
