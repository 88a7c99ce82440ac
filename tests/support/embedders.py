"""A deterministic, fast `Embedder` for tests: words hashed into a small vector space (similar texts -> similar
vectors), unit length, float32. Counts every text it embeds, so tests can check what an index re-embedded."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class HashEmbedder:
    def __init__(self, dimension: int = 64, *, fail_after: int | None = None) -> None:
        self._dimension = dimension
        self.embedded: list[str] = []
        self.calls = 0
        self.fail_after = fail_after  # raise on the call after this many (simulates a crash mid-index)

    @property
    def id(self) -> str:
        return f"test/hash-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def vector(self, text: str) -> NDArray[np.float32]:
        out = np.zeros(self._dimension, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            out[int.from_bytes(digest[:4], "little") % self._dimension] += 1.0
        norm = float(np.linalg.norm(out))
        return out / norm if norm else out

    async def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("embedder crashed (scripted)")
        self.calls += 1
        self.embedded.extend(texts)
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.stack([self.vector(t) for t in texts])

    async def aclose(self) -> None:
        return None
