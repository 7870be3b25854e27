#!/usr/bin/env bash
# Lints, then runs the whole test suite against real kernels (creates .venv on first use).
source "$(dirname "$0")/_venv.sh"

# A second kernel environment with the other kernels users run: ipykernel 6 (no subshells)
# with spyder-kernels, which pins ipykernel < 7; xeus-python; bash_kernel for another language.
# Built once per checkout.
kernel_env=.venv-kernels
kernel_spec="spyder-kernels>=3.0,<4 xeus-python>=0.17 bash_kernel>=0.9"
kernel_stamp=$kernel_env/.installed-$(echo "$kernel_spec" | python3 -c 'import hashlib,sys; print(hashlib.sha1(sys.stdin.buffer.read()).hexdigest()[:12])')
if [ ! -f "$kernel_stamp" ]; then
    python3 -m venv --clear "$kernel_env"
    # shellcheck disable=SC2086 # the spec is a list of requirements
    "$kernel_env/bin/python" -m pip install --quiet --disable-pip-version-check $kernel_spec
    touch "$kernel_stamp"
fi
export IPYTHON_MCP_TEST_KERNELS_PYTHON="$PWD/$kernel_env/bin/python"

# Enterprise Gateway pins jupyter_server 1 and jupyter_client 6: its own environment (its kernels
# run the suite's Python). Built once per checkout.
gateway_env=.venv-gateway
gateway_spec="jupyter-enterprise-gateway>=3.3,<3.4"
gateway_stamp=$gateway_env/.installed-$(echo "$gateway_spec" | python3 -c 'import hashlib,sys; print(hashlib.sha1(sys.stdin.buffer.read()).hexdigest()[:12])')
if [ ! -f "$gateway_stamp" ]; then
    python3 -m venv --clear "$gateway_env"
    "$gateway_env/bin/python" -m pip install --quiet --disable-pip-version-check "$gateway_spec"
    touch "$gateway_stamp"
fi
export IPYTHON_MCP_TEST_GATEWAY="$PWD/$gateway_env/bin/jupyter-enterprisegateway"

# A third-party MCP client, the MCP Inspector's CLI, and JupyterHub's proxy,
# configurable-http-proxy, with the Node.js they need, from npm (where npm is available; without
# it those tests are skipped). Built once per checkout.
node_spec="node@22 @modelcontextprotocol/inspector@0.22.0 configurable-http-proxy@5.3.0"
node_env=.node
node_stamp=$node_env/.installed-$(echo "$node_spec" | python3 -c 'import hashlib,sys; print(hashlib.sha1(sys.stdin.buffer.read()).hexdigest()[:12])')
if command -v npm >/dev/null && [ ! -f "$node_stamp" ]; then
    # shellcheck disable=SC2086 # the spec is a list of packages
    npm install --silent --no-audit --no-fund --prefix "$node_env" $node_spec >/dev/null
    touch "$node_stamp"
fi
if [ -f "$node_stamp" ]; then
    export IPYTHON_MCP_TEST_INSPECTOR="$PWD/$node_env/node_modules/.bin/mcp-inspector"
    export IPYTHON_MCP_TEST_CHP="$PWD/$node_env/node_modules/.bin/configurable-http-proxy"
fi

.venv/bin/ruff check --quiet src tests bench demo
exec .venv/bin/python -m pytest "$@"
