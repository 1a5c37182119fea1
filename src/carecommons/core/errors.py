"""One error family so every layer reports problems the same way: input, problem, fix."""

from __future__ import annotations


class CarecommonsError(Exception):
    """Base for errors a user can act on.

    Every message names the input, says what is wrong and how to fix it, so the CLI and the
    web app can show it as-is without a stack trace.
    """

    def __init__(self, input_name: str, problem: str, fix: str) -> None:
        self.input_name = input_name
        self.problem = problem
        self.fix = fix
        super().__init__(f"{input_name}: {problem}. Fix: {fix}")

    def as_dict(self) -> dict[str, str]:
        return {"input": self.input_name, "problem": self.problem, "fix": self.fix}


class InvalidInput(CarecommonsError):
    """Bad data or arguments from a user or a feed."""


class NotFound(CarecommonsError):
    """A named thing (practice, definition, patient, load) does not exist."""


class AccessDenied(CarecommonsError):
    """Governance refused the request (no purpose, no relationship, no agreement, opt-out)."""


class ConfigurationError(CarecommonsError):
    """The platform is set up wrongly (missing key, unreachable database)."""
