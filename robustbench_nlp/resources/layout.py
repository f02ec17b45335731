"""Where the offline resources of the word attacks live, and whether they are all there.

The folder is ``$RBNLP_RESOURCES_DIR`` (default ``~/.cache/robustbench-nlp/resources``);
``robustbench-nlp resources prepare`` (``resources/prepare.py``) builds it. This module only looks:
it never builds, downloads or imports TextAttack.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.hashing import files_fingerprint

RESOURCES_ENV = "RBNLP_RESOURCES_DIR"
PREPARE = "robustbench-nlp resources prepare"
#: Resources built from the data folder (lexicon/, stsb/); the others need none.
DATA_RESOURCES = ("synonyms", "similarity")
#: Built only on request (``prepare --mlm``): needed by BAE / BERT-Attack with ``mlm: prepared``.
OPTIONAL_RESOURCES = ("mlm",)
#: The ``mlm`` value of BAE / BERT-Attack that names the masked-LM head trained here.
PREPARED_MLM = "prepared"
#: Bump when a resource's content changes, so ``check`` asks for a rebuild.
FORMAT_VERSION = 1

#: What NLTK's WordNet reader opens (index.sense and cntlist.rev for sense keys and counts).
WORDNET_FILES = (
    [f"{kind}.{pos}" for kind in ("index", "data") for pos in ("noun", "verb", "adj", "adv")]
    + [f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")]
    + ["index.sense", "cntlist.rev"]
)


def resources_dir() -> Path:
    root = os.environ.get(RESOURCES_ENV) or Path.home() / ".cache" / "robustbench-nlp" / "resources"
    return Path(root).expanduser()


@dataclass(frozen=True)
class Layout:
    """Where each resource lives under a resources folder."""

    root: Path

    @property
    def nltk_data(self) -> Path:
        return self.root / "nltk_data"

    @property
    def stopwords(self) -> Path:
        return self.nltk_data / "corpora" / "stopwords" / "english"

    @property
    def wordnet(self) -> Path:
        return self.nltk_data / "corpora" / "wordnet"

    @property
    def textattack_cache(self) -> Path:
        return self.root / "textattack"

    @property
    def synonyms(self) -> Path:
        return self.root / "synonyms" / "minilm-counterfitted"

    @property
    def similarity(self) -> Path:
        return self.root / "similarity" / "stsb-dev-minilm.json"

    @property
    def mlm(self) -> Path:
        """The masked-LM head trained on MiniLM (``resources/mlm.py``): a BertForMaskedLM."""
        return self.root / "mlm" / "minilm-mlm"


def layout() -> Layout:
    return Layout(resources_dir())


# -- checking ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    name: str
    ok: bool
    detail: str


def check(root: Path | None = None) -> list[Status]:
    """The state of every resource (nothing is built or imported)."""
    where = Layout(root) if root else layout()
    rows = [
        Status(
            "stopwords",
            where.stopwords.is_file(),
            str(where.stopwords),
        ),
    ]
    missing = [f for f in [*WORDNET_FILES, "lexnames"] if not (where.wordnet / f).is_file()]
    linked = [f for f in WORDNET_FILES if (where.wordnet / f).is_symlink()]
    rows.append(
        Status(
            "wordnet",
            not missing and not linked,
            str(where.wordnet)
            + (f" (missing {', '.join(missing[:3])})" if missing else "")
            + (" (symlinks: NLTK refuses them)" if linked else ""),
        )
    )
    marker = where.textattack_cache / "post_install_check_3"
    rows.append(Status("textattack-cache", marker.is_file(), str(where.textattack_cache)))
    rows.append(_versioned("synonyms", where.synonyms / "info.json"))
    rows.append(_versioned("similarity", where.similarity))
    rows.append(_versioned("mlm", where.mlm / "info.json"))
    return rows


def _versioned(name: str, path: Path) -> Status:
    if not path.is_file():
        return Status(name, False, f"{path} (missing)")
    try:
        version = json.loads(path.read_text()).get("format_version")
    except (OSError, ValueError):
        version = None
    if version != FORMAT_VERSION:
        return Status(name, False, f"{path} (old format; rebuild with --force)")
    return Status(name, True, str(path.parent if path.name == "info.json" else path))


def require(*names: str) -> Layout:
    """The layout, or a one-line UserError naming the missing resources and the command."""
    where = layout()
    missing = [s for s in check(where.root) if s.name in names and not s.ok]
    if missing:
        flag = " --mlm" if any(s.name in OPTIONAL_RESOURCES for s in missing) else ""
        raise UserError(
            f"offline attack resources missing: {', '.join(s.name for s in missing)} "
            f"(in {where.root}); run `{PREPARE}{flag}` first."
        )
    return where


def fingerprint(*names: str) -> str:
    """A fingerprint of the named resources' files, for the identity of the cells that use them:
    rebuilding a resource with other content gives its cells new ids."""
    where = layout()
    paths = {
        "stopwords": [where.stopwords],
        "wordnet": sorted(where.wordnet.glob("*")),
        "textattack-cache": [],
        "synonyms": sorted(where.synonyms.glob("*")),
        "similarity": [where.similarity],
        "mlm": sorted(where.mlm.glob("*")),
    }
    files = [p for name in names for p in paths[name] if p.is_file()]
    return files_fingerprint(files, root=where.root)
