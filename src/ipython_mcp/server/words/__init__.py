"""The words the model reads, written from the values the layers below return.

advice.py: what to do about each anticipated failure; runs.py: results of the assistant's
code and its whole output; kernels.py: kernels, their status, listings; looks.py: history,
variables, completions. The tools themselves write only their descriptions and short
confirmations; below the server layer, messages state facts and name no tool.
"""
