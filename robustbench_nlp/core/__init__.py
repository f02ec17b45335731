"""The lowest layer: plugin base, registry, errors, hashing and atomic file writes.

Nothing here imports torch, transformers or any other layer of the package.
"""
