"""``python -m paramcount``: the same as the ``paramcount`` command."""

from paramcount.cli import main

raise SystemExit(main())
