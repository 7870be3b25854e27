"""Every text the model reads, written in one place from the values the layers below return.

advice.py: what to do about each anticipated failure; runs.py: results of the assistant's
code and its whole output; kernels.py: kernels, their status, listings; looks.py: history,
variables, completions. Tool names and advice appear here and in the tools' own descriptions,
nowhere below the server layer.
"""
