"""Looking at a kernel without running a cell: variables, history, help, completions, the
cells other clients ran, and the code sent into the kernel to look without a trace."""
