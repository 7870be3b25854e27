#!/usr/bin/env bash
# Lints, then runs the whole test suite against real kernels (creates .venv on first use).
source "$(dirname "$0")/_venv.sh"
.venv/bin/ruff check --quiet src tests bench demo
exec .venv/bin/python -m pytest "$@"
