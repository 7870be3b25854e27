"""The session layer: connection files, kernel processes and the Jupyter protocol."""
