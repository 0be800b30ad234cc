"""The project's error types: what a user did wrong (input errors) versus what went wrong.

Every error a user can fix by changing a file, a flag or a config key derives from
``InputError`` and says where: ``file``, ``field`` and what was expected. The tools print such an
error as one line, ``error: <file>: <field>: <what was expected>``, and exit 2; anything else is
a bug and keeps its traceback (see ``clothpose.utils.cli.run_cli``). Modules raise these types
(or their own subclasses) so the tools never need to know where an error came from.
"""
from __future__ import annotations


class ClothposeError(Exception):
    """An expected failure with a one-line explanation.

    Args:
        message: what was expected (or what happened), without the location.
        file: the file (or flag, or config file) the problem is in.
        field: the field, key, entry or column inside it.
        problems: several independent problems found together (each already
            ``<file>: <field>: <message>``); printed one per line.
    """

    exit_code = 1

    def __init__(self, message: str = "", *, file: object = None, field: object = None,
                 problems: list[str] | None = None):
        self.file = None if file is None else str(file)
        self.field = None if field is None else str(field)
        self.detail = str(message)
        self.problems = list(problems or [])
        text = ": ".join(p for p in (self.file, self.field, self.detail) if p)
        if self.problems:
            text = "\n".join(([text] if text else []) + self.problems)
        super().__init__(text)

    def lines(self) -> list[str]:
        """``error: <file>: <field>: <message>``, one line per problem."""
        if self.problems:
            return [f"error: {' '.join(p.split())}" for p in self.problems]
        return [f"error: {' '.join(str(self).split())}"]


class InputError(ClothposeError, ValueError):
    """A file, flag or config value the user gave is missing or malformed (exit status 2)."""

    exit_code = 2


class CheckpointError(InputError):
    """A checkpoint cannot be used: unreadable, refused by ``weights_only``, or does not fit."""


class RunFolderError(InputError):
    """A run folder holds a finished or interrupted run that this run would overwrite."""


class TrainingError(ClothposeError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""
