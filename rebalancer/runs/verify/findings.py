"""What ``verify`` found: each check's line, good or bad (``Verification``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Verification:
    """What ``verify`` found: one line per finding, and whether all is well."""

    path: str
    findings: list[tuple[bool, str]] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self.findings.append((True, text))

    def bad(self, text: str) -> None:
        self.findings.append((False, text))

    @property
    def passed(self) -> bool:
        return all(good for good, _ in self.findings)

    @property
    def problems(self) -> list[str]:
        return [text for good, text in self.findings if not good]


ABSENT = object()  # a setting one scenario has and the other lacks
