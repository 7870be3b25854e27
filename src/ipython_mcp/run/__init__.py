"""The assistant's code in a kernel: executions, what happened to them, their whole outputs,
input(), waiting."""
