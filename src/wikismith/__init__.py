"""wikismith: turn a code repository into a wiki and answer questions about it, with any model.

The public surface is small and lazy: importing the package loads no model, no torch and no FAISS.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
