"""The base error for problems a user can fix (bad file, wrong shape, missing model).

Its message is one human sentence; the CLI prints it without a traceback and the GUI shows it
in a dialog.
"""


class DifaceError(Exception):
    """A user-facing error: ``str(e)`` is a complete sentence saying what is wrong and what to do."""
