"""Adversarial NLI v1.0 files (Nie et al. 2020): ``<data>/anli/R{1,2,3}/<split>.jsonl``, or
``facebook/anli`` from the hub without a data folder. Labels come back in SNLI order."""

from __future__ import annotations

from pathlib import Path

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.tasks.base import Example
from robustbench_nlp.tasks.nli import hub_pairs, read_anli_jsonl


def anli_path(data_dir: Path, round_: int, split: str) -> Path:
    return data_dir / "anli" / f"R{round_}" / f"{split}.jsonl"


ANLI_HUB = "facebook/anli"


def load_anli_round(data_dir: Path | None, round_: int, split: str) -> list[Example]:
    """One round's examples (labels in SNLI order) from the data folder or the hub."""
    if data_dir is None:
        return hub_pairs(ANLI_HUB, None, f"{split}_r{round_}", "premise", "hypothesis")
    path = anli_path(data_dir, round_, split)
    if not path.is_file():
        raise UserError(
            f"attack anli: {path} is missing; --data-dir must hold anli/R1..R3/{split}.jsonl "
            "(the official ANLI v1.0 layout), or run without it to load facebook/anli."
        )
    return read_anli_jsonl(path)
