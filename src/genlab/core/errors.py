"""The one exception type for mistakes a user can fix (bad path, bad option, missing package).

The CLI prints these as one red line and exits non-zero; any other exception is a bug and
keeps its traceback.
"""


class GenlabError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""
