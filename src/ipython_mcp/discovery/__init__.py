"""Finding and starting kernels: connection files, local processes, Jupyter Servers and their
REST API, and the launcher of detached kernels."""
