"""A JSON object kept in a file between runs: what the planning side's caches share (the code-hash
facts of ``fal.code_hash`` and the result digests of ``fal.integrity``).

Reading tolerates a missing or damaged file (the cache starts empty); writing goes through a temporary
file of this process's own and an atomic rename, so two runs at once never see half a file (the last
complete write wins, each one valid). Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class JsonStore:
    """``entries``: the file's object, read on creation; ``save`` writes it back when it changed."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, Any] = {}
        self.dirty = False
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError):
                loaded = {}
            self.entries = loaded if isinstance(loaded, dict) else {}

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def put(self, key: str, value: Any) -> None:
        self.entries[key] = value
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.entries, sort_keys=True))
        os.replace(tmp, self.path)
        self.dirty = False
