"""What attacks and evaluations share: example selection, batching, progress, model mode,
per-example outcomes and declared metrics (``measure/base.py``)."""
