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

.venv/bin/ruff check --quiet src tests bench demo
exec .venv/bin/python -m pytest "$@"
