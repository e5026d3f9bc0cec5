"""What an error says to its user, as a pattern for ``pytest.raises(match=...)``.

Every paramcount error is one line: the target (or the file inside it that broke a rule), what is wrong, and after
``; `` what to do about it (DESIGN.md). A test of an error checks that line, not only the error's class or rule.
"""

from __future__ import annotations

import re

__all__ = ["error_line"]


def error_line(target: object, problem: str = "", fix: str = "") -> str:
    """A pattern for the whole message: it starts with ``target`` (or a path inside it), then ``problem`` (a
    pattern) somewhere in what is wrong, then ``; `` and a fix holding ``fix`` (a pattern), on one line.

    >>> bool(re.search(error_line("/m", "over the limit", "--limit x=N"), "/m/a.pt: 5, over the limit; --limit x=N"))
    True
    >>> bool(re.search(error_line("/m"), "/m: no fix given")), bool(re.search(error_line("/m"), "/m: a\\nb; c"))
    (False, False)
    """
    where = re.escape(str(target)) + r"(?:/[^\n]*?)?"
    return rf"\A{where}: [^\n]*?{problem}[^\n]*?; [^\n]*?{fix}[^\n]*\Z"
