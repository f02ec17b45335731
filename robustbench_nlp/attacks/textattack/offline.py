"""Import TextAttack offline: resources checked, NLTK and TextAttack pointed at them, and every
download entry point TextAttack uses replaced by an error.

TextAttack downloads what its recipes need (NLTK corpora at import, counter-fitted vectors from
S3, the Universal Sentence Encoder from TF-Hub, taggers from flair). None of that is reachable
offline; the local replacements come from ``robustbench-nlp resources prepare``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.resources.layout import PREPARE, require


class DownloadRefused(UserError):
    """TextAttack (or NLTK / flair under it) tried to download something."""


def _refuse(what: str):
    def refuse(*args, **kwargs):
        target = args[0] if args else kwargs
        raise DownloadRefused(
            f"{what}({target!r}) would download; robustbench-nlp runs TextAttack offline. Use a "
            f"component that `{PREPARE}` provides (the built-in word attacks do)."
        )

    return refuse


_PATCHES: list[tuple[object, str, object]] = []


def _patch(owner: object, name: str, replacement: object) -> None:
    if hasattr(owner, name):
        _PATCHES.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)


def offline_textattack() -> ModuleType:
    """Import TextAttack offline: resources checked, NLTK and TextAttack pointed at them, every
    download entry point replaced by an error. Returns the ``textattack`` module."""
    where = require("stopwords", "wordnet", "textattack-cache")
    nltk_path = str(where.nltk_data)
    os.environ["NLTK_DATA"] = nltk_path
    import nltk

    if nltk_path not in nltk.data.path:
        nltk.data.path.insert(0, nltk_path)
    if "textattack" not in sys.modules:
        # TextAttack points TF-Hub, transformers, datasets and XDG caches at TA_CACHE_DIR when
        # it is set; keep the user's own settings for everything but TextAttack.
        redirected = ("TFHUB_CACHE_DIR", "PYTORCH_TRANSFORMERS_CACHE", "HF_HOME", "XDG_CACHE_HOME")
        saved = {key: os.environ.get(key) for key in redirected}
        os.environ["TA_CACHE_DIR"] = str(where.textattack_cache)
        with _quiet_textattack_import():
            module = importlib.import_module("textattack")
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    else:
        module = sys.modules["textattack"]
    if not _PATCHES:
        install = importlib.import_module("textattack.shared.utils.install")
        utils = importlib.import_module("textattack.shared.utils")
        for owner in (install, utils):
            for name in ("download_from_s3", "download_from_url", "http_get"):
                _patch(owner, name, _refuse(f"textattack {name}"))
        _patch(nltk, "download", _refuse("nltk.download"))
        with contextlib.suppress(ImportError):
            from flair.models import SequenceTagger

            _patch(SequenceTagger, "load", _refuse("flair SequenceTagger.load"))
    return module


@contextlib.contextmanager
def _quiet_textattack_import() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
