"""Imported once by the sandbox's fork server, so every child starts warm (no re-imports)."""

import backend.ingest.language as language
import backend.ingest.parsers  # noqa: F401  (every parser and its libraries)
import backend.ingest.thumbnails  # noqa: F401

language.warm_up()
