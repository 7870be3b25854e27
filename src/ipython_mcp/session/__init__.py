"""The connection of this server to one kernel (its lifecycle, liveness, restarts, interrupts),
the registry of attached kernels, and each client's view of it. No MCP here."""
