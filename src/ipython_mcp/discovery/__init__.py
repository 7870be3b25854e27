"""Finding and starting kernels: connection files, local processes, the one loopback rule,
Jupyter Servers (their REST API, why they refuse, their kernels), the launcher of detached
kernels."""
