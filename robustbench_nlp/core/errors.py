"""The one exception type that reaches the user.

A ``UserError`` is bad input the user can fix: the CLI prints its message on one line and exits
with status 2. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input: one line that says what is wrong, where, and how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
