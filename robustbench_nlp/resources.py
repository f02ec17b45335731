"""Offline resources of the word-level attacks, built once by ``robustbench-nlp resources prepare``.

TextAttack downloads what its recipes need (NLTK corpora at import, counter-fitted vectors from
S3, the Universal Sentence Encoder from TF-Hub, taggers from flair). None of that is reachable
offline, so this module builds local replacements in one cache folder outside the repository
(``$RBNLP_RESOURCES_DIR``, default ``~/.cache/robustbench-nlp/resources``):

- ``nltk_data/corpora/stopwords/english``: NLTK's English stopword list, written from
  ``STOPWORDS`` below (``import textattack`` reads it);
- ``nltk_data/corpora/wordnet/``: WordNet 3.0 copied (not linked: NLTK 3.9+ refuses links that
  leave its data root) from Debian's ``wordnet-base`` + ``wordnet-sense-index`` in
  /usr/share/wordnet, plus the ``lexnames`` file of the lexnames(5WN) manual page, which Debian
  does not ship. English lookups (``lang="eng"``) need no Open Multilingual WordNet;
- ``textattack/``: TextAttack's cache folder (``TA_CACHE_DIR``) with the marker that stops its
  post-install step from calling ``nltk.download`` at import;
- ``synonyms/``: the synonym embedding replacing TextFooler's counter-fitted Paragram vectors
  (MiniLM's input word vectors counter-fitted to ``<data>/lexicon``, see
  ``attacks/counterfit.py``);
- ``similarity/``: MiniLM cosine similarities of the STS-B dev pairs, which map the Universal
  Sentence Encoder thresholds of the recipes onto MiniLM (see ``attacks/similarity.py``).

Nothing here is downloaded: a missing piece is a ``UserError`` that names the command to run.
``offline_textattack()`` points NLTK and TextAttack at this folder before TextAttack is
imported and turns every download entry point TextAttack uses into an error.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from robustbench_nlp.errors import UserError

RESOURCES_ENV = "RBNLP_RESOURCES_DIR"
WORDNET_SOURCE = Path("/usr/share/wordnet")
PREPARE = "robustbench-nlp resources prepare"
#: Resources built from the data folder (lexicon/, stsb/); the others need none.
DATA_RESOURCES = ("synonyms", "similarity")
#: Bump when a resource's content changes, so ``check`` asks for a rebuild.
FORMAT_VERSION = 1

#: NLTK's English stopword list (corpora/stopwords/english, 179 words).
_STOPWORDS = (
    "i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself "
    "yourselves he him his himself she she's her hers herself it it's its itself they them "
    "their theirs themselves what which who whom this that that'll these those am is are was "
    "were be been being have has had having do does did doing a an the and but if or because "
    "as until while of at by for with about against between into through during before after "
    "above below to from up down in out on off over under again further then once here there "
    "when where why how all any both each few more most other some such no nor not only own "
    "same so than too very s t can will just don don't should should've now d ll m o re ve y "
    "ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven "
    "haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn "
    "shouldn't wasn wasn't weren weren't won won't wouldn wouldn't"
)
STOPWORDS = _STOPWORDS.split()

#: The 45 lexicographer files of WordNet 3.0, numbered 00-44 (lexnames(5WN)).
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
)
LEXNAMES = _LEXNAMES.split()
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

#: What NLTK's WordNet reader opens (index.sense and cntlist.rev for sense keys and counts).
WORDNET_FILES = (
    [f"{kind}.{pos}" for kind in ("index", "data") for pos in ("noun", "verb", "adj", "adv")]
    + [f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")]
    + ["index.sense", "cntlist.rev"]
)


def lexnames_text() -> str:
    return "".join(
        f"{number:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n"
        for number, name in enumerate(LEXNAMES)
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
        raise UserError(
            f"offline attack resources missing: {', '.join(s.name for s in missing)} "
            f"(in {where.root}); run `{PREPARE}` first."
        )
    return where


# -- preparing --------------------------------------------------------------------------------
def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _secure(folder: Path, stop: Path) -> None:
    """NLTK refuses world-writable folders: make ``folder`` and its parents up to ``stop`` 755."""
    for part in [folder, *folder.parents]:
        if part == stop.parent or not part.is_dir():
            break
        part.chmod(0o755)


def prepare_nltk(where: Layout, wordnet_source: Path = WORDNET_SOURCE, force: bool = False) -> None:
    _write(where.stopwords, "\n".join(STOPWORDS) + "\n")
    target = where.wordnet
    complete = all((target / f).is_file() for f in [*WORDNET_FILES, "lexnames"])
    if force or not complete:
        missing = [f for f in WORDNET_FILES if not (wordnet_source / f).is_file()]
        if missing:
            raise UserError(
                f"WordNet files missing in {wordnet_source} ({', '.join(missing[:3])}); install "
                "them with `apt-get install -y wordnet-base wordnet-sense-index`."
            )
        staging = target.with_name("wordnet.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in WORDNET_FILES:
            shutil.copyfile(wordnet_source / name, staging / name)  # a copy, never a link
        (staging / "lexnames").write_text(lexnames_text())
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    for folder in (where.stopwords.parent, target):
        _secure(folder, where.nltk_data)


def prepare_textattack_cache(where: Layout) -> None:
    # TextAttack runs nltk.download(...) at import unless this marker exists in its cache.
    _write(where.textattack_cache / "post_install_check_3", "")


def prepare(
    data_dir: Path | None,
    force: bool = False,
    wordnet_source: Path = WORDNET_SOURCE,
    log=print,
    with_data: bool = True,
) -> Layout:
    """Build every resource that is missing (all of them with ``force``); return the layout.

    ``with_data=False`` builds only what needs no data folder (stopwords, WordNet, the TextAttack
    marker) and says which resources it left out, for machines without ``../shared/data``.
    """
    from robustbench_nlp.attacks import similarity, synonyms

    where = layout()
    where.root.mkdir(parents=True, exist_ok=True)
    status = {s.name: s for s in check(where.root)}
    if force or not (status["stopwords"].ok and status["wordnet"].ok):
        prepare_nltk(where, wordnet_source, force)
        log(f"stopwords + wordnet: {where.nltk_data}")
    if not status["textattack-cache"].ok:
        prepare_textattack_cache(where)
        log(f"textattack cache: {where.textattack_cache}")
    if not with_data:
        for name in DATA_RESOURCES:
            if not status[name].ok:
                log(f"{name}: not built (needs the data folder; rerun with --data-dir)")
        return where
    if force or not status["synonyms"].ok:
        lexicon = _data_file(data_dir, "lexicon", "the synonym embedding (counter-fitting)")
        info = synonyms.build(lexicon, where.synonyms)
        log(
            f"synonym embedding: {info['words']} words, {info['synonym_pairs']} synonym / "
            f"{info['antonym_pairs']} antonym pairs -> {where.synonyms}"
        )
    if force or not status["similarity"].ok:
        sts = _data_file(data_dir, "stsb/sts-dev.csv", "the sentence-similarity calibration")
        info = similarity.build_calibration(sts, where.similarity)
        log(f"similarity calibration: {info['pairs']} STS-B dev pairs -> {where.similarity}")
    return where


def _data_file(data_dir: Path | None, relative: str, what: str) -> Path:
    if data_dir is None:
        raise UserError(
            f"{what} needs the data folder: pass --data-dir (the layout of ../shared/data) or set "
            "$RBNLP_DATA_DIR."
        )
    path = data_dir / relative
    if not path.exists():
        raise UserError(f"{what} needs {path}, which is missing; check --data-dir.")
    return path


# -- using ------------------------------------------------------------------------------------
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
def hub_offline() -> Iterator[None]:
    """Hugging Face hub in offline mode: hub ids load from the local cache or fail at once
    (instead of retrying a network that is not there, or downloading silently)."""
    import huggingface_hub.constants as hub_constants
    from transformers.utils import hub as transformers_hub

    flags = [(hub_constants, "HF_HUB_OFFLINE"), (transformers_hub, "_is_offline_mode")]
    flags = [(owner, name) for owner, name in flags if hasattr(owner, name)]
    saved = [getattr(owner, name) for owner, name in flags]
    for owner, name in flags:
        setattr(owner, name, True)
    try:
        yield
    finally:
        for (owner, name), value in zip(flags, saved, strict=True):
            setattr(owner, name, value)


@contextlib.contextmanager
def _quiet_textattack_import() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
