#!/usr/bin/env bash
# Runs the whole test suite against real kernels (creates .venv on first use).
source "$(dirname "$0")/_venv.sh"
exec .venv/bin/python -m pytest "$@"
