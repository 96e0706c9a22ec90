"""Imported once by the sandbox's fork server, so every child starts warm (no re-imports)."""

import gc

import backend.ingest.language as language
import backend.ingest.parsers  # noqa: F401  (every parser and its libraries)
import backend.ingest.thumbnails as thumbnails

language.warm_up()
thumbnails.warm_up()

# Everything imported above lives as long as the fork server: out of the collector's sight,
# so a child's first collection does not walk (and copy, page by page) the whole heap.
gc.collect()
gc.freeze()
