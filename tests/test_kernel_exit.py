"""Which cells would end the kernel's process, read before they are sent (pure)."""

from __future__ import annotations

import pytest

from ipython_mcp.run.kernel_exit import exit_statement


@pytest.mark.parametrize(
    ("code", "statement"),
    [
        ("exit()", "exit()"),
        ("quit()", "quit()"),
        ("exit", "exit"),  # IPython calls a bare exit itself
        ("x = 1\nquit", "quit"),
        ("exit(0)", "exit(0)"),
        ("import os\nos._exit(1)", "os._exit(1)"),
        ("get_ipython().ask_exit()", "get_ipython().ask_exit()"),
        ("if done:\n    exit()", "exit()"),
        ("for i in range(3):\n    print(i)\nelse:\n    quit()", "quit()"),
        ("try:\n    run()\nexcept Exception:\n    exit()", "exit()"),
        ("with open('f') as f:\n    os._exit(0)", "os._exit(0)"),
    ],
)
def test_statements_that_end_the_kernel_are_found(code: str, statement: str) -> None:
    assert exit_statement(code) == statement


@pytest.mark.parametrize(
    "code",
    [
        "print('exit()')",  # in a string
        "# exit()",  # in a comment
        "def stop():\n    exit()",  # a function the cell only defines
        "class App:\n    def quit(self):\n        quit()",
        "app.quit()",  # an attribute of another object
        "self.exit()",
        "server._exit(1)",
        "import sys\nsys.exit(1)",  # IPython shows SystemExit as an error, the kernel lives
        "raise SystemExit",
        "exit(keep_kernel=True)",  # IPython keeps the kernel then
        "exit_code = 3\nexit_code",
        "stop = lambda: exit()",
        "def broken(:\n    exit()",  # a syntax error: the kernel reports it
        "obj?",
        "%who",
    ],
)
def test_everything_else_is_sent(code: str) -> None:
    assert exit_statement(code) is None
