#!/usr/bin/env bash
# Runs the end-to-end demo: a kernel, the server over stdio, the official MCP client.
source "$(dirname "$0")/_venv.sh"
exec .venv/bin/python demo/demo.py "$@"
