"""The one exception type the CLI turns into a one-line error message and a non-zero exit."""


class UserError(Exception):
    """A problem with the user's input (unknown name, missing file, malformed data, bad option).

    The CLI prints ``error: <message>`` and exits with status 2 instead of showing a traceback,
    so the message must say what was wrong and, where possible, what to do instead.
    """
