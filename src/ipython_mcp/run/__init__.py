"""The assistant's code in a kernel: executions, their whole outputs, input(), waiting."""
