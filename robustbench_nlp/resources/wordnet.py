"""WordNet 3.0 and NLTK's stopwords for TextAttack, from Debian's packages (no download).

- ``nltk_data/corpora/stopwords/english``: NLTK's English stopword list, written from
  ``STOPWORDS`` below (``import textattack`` reads it);
- ``nltk_data/corpora/wordnet/``: WordNet 3.0 copied (not linked: NLTK 3.9+ refuses links that
  leave its data root) from Debian's ``wordnet-base`` + ``wordnet-sense-index`` in
  /usr/share/wordnet, plus the ``lexnames`` file of the lexnames(5WN) manual page, which Debian
  does not ship. English lookups (``lang="eng"``) need no Open Multilingual WordNet;
- ``textattack/``: TextAttack's cache folder (``TA_CACHE_DIR``) with the marker that stops its
  post-install step from calling ``nltk.download`` at import.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.files import atomic_folder, atomic_write_text
from robustbench_nlp.resources.layout import WORDNET_FILES, Layout

WORDNET_SOURCE = Path("/usr/share/wordnet")

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


def lexnames_text() -> str:
    return "".join(
        f"{number:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n"
        for number, name in enumerate(LEXNAMES)
    )


def _secure(folder: Path, stop: Path) -> None:
    """NLTK refuses world-writable folders: make ``folder`` and its parents up to ``stop`` 755."""
    for part in [folder, *folder.parents]:
        if part == stop.parent or not part.is_dir():
            break
        part.chmod(0o755)


def prepare_nltk(where: Layout, wordnet_source: Path = WORDNET_SOURCE, force: bool = False) -> None:
    atomic_write_text(where.stopwords, "\n".join(STOPWORDS) + "\n")
    target = where.wordnet
    complete = all((target / f).is_file() for f in [*WORDNET_FILES, "lexnames"])
    if force or not complete:
        missing = [f for f in WORDNET_FILES if not (wordnet_source / f).is_file()]
        if missing:
            raise UserError(
                f"WordNet files missing in {wordnet_source} ({', '.join(missing[:3])}); install "
                "them with `apt-get install -y wordnet-base wordnet-sense-index`."
            )
        with atomic_folder(target) as staging:
            for name in WORDNET_FILES:
                shutil.copyfile(wordnet_source / name, staging / name)  # a copy, never a link
            (staging / "lexnames").write_text(lexnames_text())
    for folder in (where.stopwords.parent, target):
        _secure(folder, where.nltk_data)


def prepare_textattack_cache(where: Layout) -> None:
    # TextAttack runs nltk.download(...) at import unless this marker exists in its cache.
    atomic_write_text(where.textattack_cache / "post_install_check_3", "")
