"""The connection of this server to one kernel (its lifecycle, liveness, restarts), the link the
runner and the inspector see of it (interrupts, readiness), the registry of attached kernels,
every kernel there is to attach and which one is meant, and each client's view. No MCP here."""
