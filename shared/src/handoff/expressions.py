"""Safe conditions written in CEL (the Common Expression Language), compiled once at load.

Scoring criteria and routing rules use the same language, so a sales-ops reader learns one
syntax. A condition names only the variables its caller offers; anything else is refused at
load, so a typo stops the service at start instead of silently never matching.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import cel


class ExpressionError(ValueError):
    """A condition that does not compile or names a variable that is not offered."""


@dataclass(frozen=True)
class Condition:
    """A compiled CEL condition; `holds` is True only for a boolean true result."""

    source: str
    variables: tuple[str, ...]
    _program: Any = field(repr=False, compare=False)

    def holds(self, context: Mapping[str, Any]) -> bool:
        """Evaluate against `context`. A runtime error (a missing trait, a type clash) is False:
        a rule that cannot be judged for this lead does not match it."""
        try:
            return self._program.execute(dict(context)) is True
        except (KeyError, RuntimeError, TypeError, ValueError):
            return False

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The raw result; raises ExpressionError when the expression cannot be evaluated."""
        try:
            return self._program.execute(dict(context))
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise ExpressionError(str(exc)) from None


def compile_condition(source: str, offered: Collection[str]) -> Condition:
    """Compile `source`; raise ExpressionError naming the fault (syntax or unknown variable)."""
    if not source or not source.strip():
        raise ExpressionError("the expression is empty")
    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()
        raise ExpressionError(
            " ".join(line.strip() for line in first[:2]) or "does not parse"
        ) from None
    names = tuple(program.variables())
    unknown = sorted(set(names) - set(offered))
    if unknown:
        raise ExpressionError(
            f"unknown variable {', '.join(unknown)}; offered: {', '.join(sorted(offered))}"
        )
    return Condition(source=source, variables=names, _program=program)
