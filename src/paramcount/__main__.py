"""``python -m paramcount``: the same as the ``paramcount`` command."""

from paramcount.cli import command

raise SystemExit(command())
