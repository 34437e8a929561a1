"""Segments opened on a thread of their own as the engine process starts.

The native call lets go of the GIL, so the process imports the rest of the engine (psycopg, the
logging, the tails) while the pieces are checksummed and mapped. This module imports nothing
else, so it can start first.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .. import _native


class Opening:
    def __init__(self, engine: _native.Engine, directory: Path) -> None:
        self._outcome: bool | OSError = False
        directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._open, args=(engine, directory), daemon=True,
                                        name="engine-open")
        self._thread.start()

    def _open(self, engine: _native.Engine, directory: Path) -> None:
        try:
            self._outcome = engine.open_segments(directory)
        except OSError as exc:
            self._outcome = exc

    def result(self) -> bool:
        """Whether segments were opened; raises the OSError that made them unusable."""
        self._thread.join()
        if isinstance(self._outcome, OSError):
            raise self._outcome
        return self._outcome
