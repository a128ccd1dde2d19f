"""How the library reports progress without knowing who shows it (the CLI renders it with rich)."""

from __future__ import annotations

from typing import Protocol


class ScanObserver(Protocol):
    """Receives stage progress and warnings from a scan."""

    def start(self, stage: str, total: int | None) -> None: ...

    def grow(self, stage: str, amount: int) -> None: ...

    def advance(self, stage: str, amount: int = 1) -> None: ...

    def warn(self, message: str) -> None: ...


class NullObserver:
    """Ignores everything: for library use and tests."""

    def start(self, stage: str, total: int | None) -> None:
        pass

    def grow(self, stage: str, amount: int) -> None:
        pass

    def advance(self, stage: str, amount: int = 1) -> None:
        pass

    def warn(self, message: str) -> None:
        pass
