"""TextAttack parts that run offline and fast; the recipes built from them.

Import this module only through ``robustbench_nlp.attacks.textattack.recipes`` (after
``offline.offline_textattack()``): it imports TextAttack at the top, which costs seconds and
needs the prepared resources.

- ``FastModelWrapper`` queries our ``Classifier``: padding to the longest sequence of a batch (not
  to 512), inference mode, large batches, and a cache keyed by the token ids, so inputs that
  tokenise alike (case variants under an uncased vocabulary) are computed once and score exactly
  alike. Attack results equal those of TextAttack's ``HuggingFaceModelWrapper`` (padding behind an
  attention mask changes outputs only by float rounding; ``tests/test_word_attacks.py`` checks).
- ``MiniLMSentenceEncoder`` replaces the Universal Sentence Encoder, ``WordNetPartOfSpeech``
  the flair / NLTK taggers, ``OfflineWordSwapWordNet`` the WordNet swap that downloads OMW, and
  ``synonym_embedding()`` the counter-fitted Paragram vectors.
- ``build_attack`` mirrors each recipe's ``build()`` in ``textattack/attack_recipes`` with those
  substitutes; ``build_any_recipe`` builds any other recipe with the same substitutes patched in.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from nltk.corpus import wordnet
from textattack import Attack
from textattack.attack_recipes import AttackRecipe
from textattack.constraints import Constraint
from textattack.constraints.overlap import LevenshteinEditDistance, MaxWordsPerturbed
from textattack.constraints.pre_transformation import (
    InputColumnModification,
    MaxModificationRate,
    RepeatModification,
    StopwordModification,
)
from textattack.constraints.semantics import WordEmbeddingDistance
from textattack.constraints.semantics.sentence_encoders import SentenceEncoder
from textattack.goal_functions import TargetedClassification, UntargetedClassification
from textattack.models.wrappers import ModelWrapper
from textattack.search_methods import GreedyWordSwapWIR
from textattack.shared import AttackedText, WordEmbedding
from textattack.shared import logger as textattack_logger
from textattack.shared.validators import transformation_consists_of_word_swaps
from textattack.transformations import (
    CompositeTransformation,
    WordSwapEmbedding,
    WordSwapMaskedLM,
    WordSwapNeighboringCharacterSwap,
    WordSwapRandomCharacterDeletion,
    WordSwapRandomCharacterInsertion,
    WordSwapRandomCharacterSubstitution,
    WordSwapWordNet,
)

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.model.backbones import hub_offline
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.resources import similarity, synonyms
from robustbench_nlp.resources.layout import PREPARED_MLM, Layout, require
from robustbench_nlp.tasks.base import Example

COLUMNS = ("premise", "hypothesis")
#: TextFooler's stopwords (textattack/attack_recipes/textfooler_jin_2019.py), verbatim.
_TEXTFOOLER_STOPWORDS = """
    a about above across after afterwards again against ain all almost alone along already also
    although am among amongst an and another any anyhow anyone anything anyway anywhere are aren
    aren't around as at back been before beforehand behind being below beside besides between
    beyond both but by can cannot could couldn couldn't d didn didn't doesn doesn't don don't down
    due during either else elsewhere empty enough even ever everyone everything everywhere except
    first for former formerly from hadn hadn't hasn hasn't haven haven't he hence her here
    hereafter hereby herein hereupon hers herself him himself his how however hundred i if in
    indeed into is isn isn't it it's its itself just latter latterly least ll may me meanwhile
    mightn mightn't mine more moreover most mostly must mustn mustn't my myself namely needn
    needn't neither never nevertheless next no nobody none noone nor not nothing now nowhere o of
    off on once one only onto or other others otherwise our ours ourselves out over per please s
    same shan shan't she she's should've shouldn shouldn't somehow something sometime somewhere
    such t than that that'll the their theirs them themselves then thence there thereafter
    thereby therefore therein thereupon these they this those through throughout thru thus to too
    toward towards under unless until up upon used ve was wasn wasn't we were weren weren't what
    whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever
    whether which while whither who whoever whole whom whose why with within without won won't
    would wouldn wouldn't y yet you you'd you'll you're you've your yours yourself
    yourselves"""
TEXTFOOLER_STOPWORDS = frozenset(_TEXTFOOLER_STOPWORDS.split())
#: The recipes' Universal Sentence Encoder thresholds, mapped onto MiniLM by ``similarity``
#: (A2T's is the cosine of SBERT ``stsb-distilbert-base``, read on the STS gold scale alike).
USE_THRESHOLDS = {"textfooler": 0.840845057, "bae": 0.936338023, "bert_attack": 0.2, "a2t": 0.9}


# -- the victim -------------------------------------------------------------------------------
def to_attacked_text(example: Example) -> AttackedText:
    """A sentence, or an NLI pair as the columns (premise, hypothesis)."""
    if example.pair is None:
        return AttackedText(example.text)
    return AttackedText(OrderedDict(zip(COLUMNS, (example.text, example.pair), strict=True)))


def _as_example(tokenizer_input: str | tuple[str, ...]) -> Example:
    if isinstance(tokenizer_input, str):
        return Example(tokenizer_input, 0)
    premise, hypothesis = tokenizer_input
    return Example(premise, 0, hypothesis)


class FastModelWrapper(ModelWrapper):
    """Class probabilities from a ``Classifier`` for TextAttack's goal functions.

    Each call tokenises its inputs once, drops the rows whose token ids are already cached
    (across the whole attack), and runs the rest in eval / inference mode in batches of
    ``batch_size``, each padded to its own longest row; ``forwarded`` counts the rows that
    reached the model.
    """

    def __init__(self, model: Classifier, batch_size: int = 64) -> None:
        self.model = model
        #: What ``AttackedText.align_with_model_tokens`` reads (through ``tokenize``).
        self.tokenizer = model.tokenizer
        self.batch_size = batch_size
        self.forwarded = 0
        self._cache: dict[tuple, torch.Tensor] = {}

    @torch.inference_mode()
    def __call__(self, text_input_list: Sequence[str | tuple[str, ...]]) -> torch.Tensor:
        examples = [_as_example(x) for x in text_input_list]
        batch = self.model.tokenize(examples)  # once per call: cache keys and model inputs
        lengths = batch["attention_mask"].sum(1).tolist()
        parts = [batch[k].tolist() for k in ("input_ids", "token_type_ids", "perturb_mask")]
        keys = [tuple(tuple(p[row][:n]) for p in parts) for row, n in enumerate(lengths)]
        todo: dict[tuple, int] = {}
        for row, key in enumerate(keys):
            if key not in self._cache and key not in todo:
                todo[key] = row
        if todo:
            was_training = self.model.training
            self.model.eval()
            pending = list(todo.items())
            right_padded = getattr(self.model.tokenizer, "padding_side", "right") == "right"
            for start in range(0, len(pending), self.batch_size):
                chunk = pending[start : start + self.batch_size]
                rows = torch.tensor([row for _, row in chunk], device=batch["input_ids"].device)
                width = max(lengths[row] for _, row in chunk) if right_padded else None
                inputs = {name: value[rows, :width] for name, value in batch.items()}
                probs = self.forward(inputs, [examples[row] for _, row in chunk])
                for (key, _), row_probs in zip(chunk, probs, strict=True):
                    self._cache[key] = row_probs
            self.forwarded += len(pending)
            self.model.train(was_training)
        return torch.stack([self._cache[key] for key in keys])

    def forward(self, inputs: dict[str, torch.Tensor], examples: list[Example]) -> torch.Tensor:
        """Probabilities of one padded batch (``examples`` are its rows, for subclasses)."""
        return torch.softmax(self.model(inputs).float(), dim=-1).cpu()

    def get_grad(self, text_input: str | tuple[str, ...]) -> dict:
        """The gradient of the loss w.r.t. the word-embedding output, for gradient word
        importance (``GreedyWordSwapWIR(wir_method="gradient")``), as TextAttack's
        ``HuggingFaceModelWrapper.get_grad`` computes it:

        - the model in train mode (dropout on, as there; the previous mode is restored);
        - one forward pass gives the label (its argmax), a second forward pass the loss, the
          cross-entropy at that label;
        - the gradient is taken w.r.t. the output of the word-embedding layer
          (``Classifier.word_embeddings``, the model's ``get_input_embeddings()``, what
          TextAttack hooks), fed back through ``inputs_embeds``.

        Rows are the model's own tokens of the one text ([CLS] ... [SEP], no padding; TextAttack
        pads to the tokenizer's maximum length, rows that only add zeros after the text), which
        ``tokenize`` also gives, so ``align_with_model_tokens`` indexes them. Unlike TextAttack
        it does not zero or fill the parameters' ``.grad`` (only the embedding output is
        differentiated). Returns ``{"ids": (1, T) tensor, "gradient": (T, H) array}``.
        """
        was_training = self.model.training
        self.model.train()
        try:
            with torch.inference_mode(False), torch.enable_grad():
                batch = self.model.tokenize([_as_example(text_input)])
                with torch.no_grad():
                    labels = self.model(batch).argmax(dim=-1)
                embeds = self.model.word_embeddings(batch["input_ids"]).detach()
                embeds.requires_grad_(True)
                loss = F.cross_entropy(self.model(batch, inputs_embeds=embeds), labels)
                (grad,) = torch.autograd.grad(loss, embeds)
        finally:
            self.model.train(was_training)
        return {"ids": batch["input_ids"].cpu(), "gradient": grad[0].float().cpu().numpy()}

    def _tokenize(self, inputs: Sequence[str | tuple[str, ...]]) -> list[list[str]]:
        """The model's tokens of each input, as ``get_grad`` lays out its rows (TextAttack's
        ``HuggingFaceModelWrapper._tokenize``: special tokens included, truncated). Template
        words of a prompt classifier become the pad token, so no word of the text aligns with
        them."""
        tokens = []
        special = set(self.tokenizer.all_special_tokens)
        for row in self.model.encode([_as_example(x) for x in inputs]):
            names = self.tokenizer.convert_ids_to_tokens(row.input_ids.tolist())
            tokens.append(
                [
                    name if own or name in special else self.tokenizer.pad_token
                    for name, own in zip(names, row.perturb_mask.tolist(), strict=True)
                ]
            )
        return tokens


# -- offline substitutes ----------------------------------------------------------------------
class MiniLMSentenceEncoder(SentenceEncoder):
    """The Universal Sentence Encoder constraint with MiniLM (``similarity.MiniLMSimilarity``).

    Same windowing and threshold logic as TextAttack's ``SentenceEncoder``; texts that
    ``skip_text_shorter_than_window`` lets through are not encoded at all (their score is 1
    either way), and repeated windows are encoded once.
    """

    def __init__(self, encoder: similarity.MiniLMSimilarity, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = encoder

    def encode(self, sentences):
        return self.model.encode(sentences)

    def _check_constraint_many(self, transformed_texts, reference_text):
        if not self.skip_text_shorter_than_window:
            return super()._check_constraint_many(transformed_texts, reference_text)
        short = [len(t.words) < self.window_size for t in transformed_texts]
        scored = [t for t, is_short in zip(transformed_texts, short, strict=True) if not is_short]
        scores = iter(self._score_list(reference_text, scored).tolist() if scored else [])
        kept = []
        for text, is_short in zip(transformed_texts, short, strict=True):
            score = 1.0 if is_short else next(scores)
            text.attack_attrs["similarity_score"] = score
            if score >= self.threshold:
                kept.append(text)
        return kept

    def clear_cache(self) -> None:
        self.model.clear_cache()


class WordNetPartOfSpeech(Constraint):
    """Part-of-speech check without a tagger: a swap is allowed if the two words share a WordNet
    part of speech (adjective satellites count as adjectives; with ``allow_verb_noun_swap``
    nouns and verbs form one class, as in TextFooler). Words WordNet does not know (names,
    numbers, function words) have no part of speech: two unknown words may swap, a known and an
    unknown word may not. Unlike a tagger this ignores context: "run" may be a noun or a verb."""

    def __init__(self, allow_verb_noun_swap: bool = True, compare_against_original: bool = True):
        super().__init__(compare_against_original)
        self.allow_verb_noun_swap = allow_verb_noun_swap
        self._cache: dict[str, frozenset[str]] = {}

    def parts_of_speech(self, word: str) -> frozenset[str]:
        word = word.lower()
        if word not in self._cache:
            tags = {"a" if s.pos() == "s" else s.pos() for s in wordnet.synsets(word)}
            if self.allow_verb_noun_swap:
                tags = {"n" if t == "v" else t for t in tags}
            self._cache[word] = frozenset(tags)
        return self._cache[word]

    def compatible(self, first: str, second: str) -> bool:
        a, b = self.parts_of_speech(first), self.parts_of_speech(second)
        return bool(a & b) if a or b else True

    def _check_constraint(self, transformed_text, reference_text):
        indices = transformed_text.attack_attrs["newly_modified_indices"]
        return all(
            self.compatible(reference_text.words[i], transformed_text.words[i]) for i in indices
        )

    def check_compatibility(self, transformation):
        return transformation_consists_of_word_swaps(transformation)

    def extra_repr_keys(self):
        return ["allow_verb_noun_swap", *super().extra_repr_keys()]


class OfflineWordSwapWordNet(WordSwapWordNet):
    """``WordSwapWordNet`` without its ``nltk.download("omw-1.4")``: English synonyms come from
    WordNet itself (``lang="eng"`` needs no Open Multilingual WordNet)."""

    def __init__(self, language: str = "eng") -> None:
        if language != "eng":
            raise UserError(f"offline WordNet has English only, not {language!r}.")
        super(WordSwapWordNet, self).__init__()
        self.language = language


class DynamicPaddingMaskedLM(WordSwapMaskedLM):
    """``WordSwapMaskedLM`` that pads masked-LM inputs to the longest text of a batch instead of
    to 512 tokens; the predictions at the mask are the same up to float rounding."""

    def _encode_text(self, text):
        encoding = self._lm_tokenizer(
            text, max_length=self.max_length, truncation=True, padding=True, return_tensors="pt"
        )
        return encoding.to(self._language_model.device)


_EMBEDDINGS: dict[Path, WordEmbedding] = {}


def synonym_embedding(where: Layout) -> WordEmbedding:
    """The counter-fitted MiniLM synonym space as a TextAttack ``WordEmbedding`` (loaded once)."""
    if where.synonyms not in _EMBEDDINGS:
        space = synonyms.load(where.synonyms)
        _EMBEDDINGS[where.synonyms] = WordEmbedding(
            embedding_matrix=space.vectors,
            word2index=space.index(),
            index2word=dict(enumerate(space.words)),
            nn_matrix=space.neighbours,
        )
    return _EMBEDDINGS[where.synonyms]


def load_masked_lm(spec: str | None, recipe: str):
    """(model, tokenizer) of a masked language model whose MLM head was trained and saved.

    Refuses when ``spec`` is missing, cannot be loaded, or loads with any weight initialised at
    random (``output_loading_info``): a backbone saved without its head (MiniLM) would otherwise
    silently propose random words.
    """
    if not spec:
        raise UserError(
            f"attack {recipe} needs a masked language model: set params.mlm to a local folder "
            "(or hub id) of a model with a masked-LM head, e.g. bert-base-uncased."
        )
    if spec == PREPARED_MLM:
        spec = str(require("mlm").mlm)
    local = Path(spec).expanduser()
    source = str(local) if local.exists() else spec
    try:
        model, info = transformers.AutoModelForMaskedLM.from_pretrained(
            source, output_loading_info=True
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, use_fast=True)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(
            f"attack {recipe}: mlm {spec!r} could not be loaded as a masked language model "
            f"({_first_line(error)})."
        ) from error
    untrained = list(info.get("missing_keys", [])) + [m[0] for m in info.get("mismatched_keys", [])]
    if untrained:
        raise UserError(
            f"attack {recipe}: mlm {spec!r} has no trained masked-LM head (randomly initialised: "
            f"{', '.join(sorted(untrained)[:3])}); give a model saved with its MLM head."
        )
    if tokenizer.mask_token is None:
        raise UserError(f"attack {recipe}: the tokenizer of mlm {spec!r} has no mask token.")
    return model.eval(), tokenizer


# -- recipes ----------------------------------------------------------------------------------
def _pre_constraints(stopwords=None) -> list:
    """RepeatModification, StopwordModification (NLTK's English list unless given) and, for NLI
    pairs, the premise frozen (InputColumnModification; a no-op on single sentences)."""
    return [
        RepeatModification(),
        StopwordModification(stopwords=stopwords),
        InputColumnModification(list(COLUMNS), {"premise"}),
    ]


def _encoder(where: Layout, recipe: str, threshold: float | None, **kwargs) -> SentenceEncoder:
    if threshold is None:
        calibration = similarity.load_calibration(where.similarity)
        threshold, _ = similarity.threshold_for(USE_THRESHOLDS[recipe], calibration)
    return MiniLMSentenceEncoder(
        similarity.shared_similarity(), threshold=threshold, metric="cosine", **kwargs
    )


def build_attack(name: str, wrapper: ModelWrapper, where: Layout, params: dict) -> Attack:
    """The recipe ``name`` as its ``build()`` in ``textattack/attack_recipes`` composes it, with
    the offline substitutes; ``params`` are the suite parameters of the attack."""
    goal = UntargetedClassification(wrapper, model_batch_size=params["batch_size"])
    if params.get("query_budget"):
        goal.query_budget = params["query_budget"]
    if name not in RECIPES:
        raise ValueError(f"no built-in recipe {name!r}")
    constraints, transformation, search = RECIPES[name](where, params)
    if name == "a2t":  # its build() ranks at most the words the victim's window can hold
        search.truncate_words_to = words_window(wrapper)
    return Attack(goal, constraints, transformation, search)


def words_window(wrapper: FastModelWrapper) -> int:
    """A2T's ``truncate_words_to``: ``build()`` takes ``min(1024, tokenizer.model_max_length,
    max_position_embeddings - 2)`` of a Hugging Face model, whose tokenizer truncates at
    ``model_max_length``; the classifier's tokenizer truncates at its ``max_length``, so that
    window (less [CLS] and [SEP]) stands in for ``model_max_length``. Words past it cannot change
    the model's input, so the bound saves queries and changes no outcome."""
    model = wrapper.model
    positions = getattr(model.encoder.config, "max_position_embeddings", 1026)
    return max(1, min(1024, model.spec.max_length - 2, positions - 2))


def _deepwordbug(where: Layout, params: dict):  # deepwordbug_gao_2018.py
    if params["use_all_transformations"]:
        transformation = CompositeTransformation(
            [
                WordSwapNeighboringCharacterSwap(),
                WordSwapRandomCharacterSubstitution(),
                WordSwapRandomCharacterDeletion(),
                WordSwapRandomCharacterInsertion(),
            ]
        )
    else:
        transformation = WordSwapRandomCharacterSubstitution()
    constraints = [*_pre_constraints(), LevenshteinEditDistance(params["max_edits"])]
    return constraints, transformation, GreedyWordSwapWIR()


def _pwws(where: Layout, params: dict):  # pwws_ren_2019.py
    return _pre_constraints(), OfflineWordSwapWordNet(), GreedyWordSwapWIR("weighted-saliency")


def _textfooler(where: Layout, params: dict):  # textfooler_jin_2019.py
    embedding = synonym_embedding(where)
    transformation = WordSwapEmbedding(max_candidates=params["max_candidates"], embedding=embedding)
    constraints = [
        *_pre_constraints(TEXTFOOLER_STOPWORDS),
        WordEmbeddingDistance(embedding=embedding, min_cos_sim=params["min_cos_sim"]),
        WordNetPartOfSpeech(allow_verb_noun_swap=True),
        _encoder(
            where,
            "textfooler",
            params["similarity_threshold"],
            compare_against_original=False,
            window_size=15,
            skip_text_shorter_than_window=True,
        ),
    ]
    return constraints, transformation, GreedyWordSwapWIR(wir_method="delete")


def _masked_lm_swap(params: dict, recipe: str, method: str, **kwargs) -> DynamicPaddingMaskedLM:
    """The masked-LM word swap BAE and BERT-Attack share, padded per batch (not to 512)."""
    model, tokenizer = load_masked_lm(params["mlm"], recipe)
    return DynamicPaddingMaskedLM(
        method=method,
        masked_language_model=model,
        tokenizer=tokenizer,
        max_length=_max_positions(model),
        max_candidates=params["max_candidates"],
        **kwargs,
    )


def _bae(where: Layout, params: dict):  # bae_garg_2019.py
    transformation = _masked_lm_swap(params, "bae", "bae", min_confidence=0.0)
    constraints = [
        *_pre_constraints(),
        WordNetPartOfSpeech(allow_verb_noun_swap=True),
        _encoder(
            where,
            "bae",
            params["similarity_threshold"],
            compare_against_original=True,
            window_size=15,
            skip_text_shorter_than_window=True,
        ),
    ]
    return constraints, transformation, GreedyWordSwapWIR(wir_method="delete")


def _bert_attack(where: Layout, params: dict):  # bert_attack_li_2020.py
    transformation = _masked_lm_swap(params, "bert_attack", "bert-attack")
    constraints = [
        *_pre_constraints(),
        MaxWordsPerturbed(max_percent=params["max_percent"]),
        _encoder(
            where,
            "bert_attack",
            params["similarity_threshold"],
            compare_against_original=True,
            window_size=None,
        ),
    ]
    return constraints, transformation, GreedyWordSwapWIR(wir_method="unk")


def _a2t(where: Layout, params: dict):  # a2t_yoo_2021.py, mlm=False
    """The word-cosine check runs before the sentence encoder (``build()`` appends it last):
    the constraints only filter, so the order changes no outcome, and the cheap check spares
    the encoder most candidates."""
    embedding = synonym_embedding(where)
    transformation = WordSwapEmbedding(max_candidates=params["max_candidates"], embedding=embedding)
    constraints = [
        *_pre_constraints(),
        WordNetPartOfSpeech(allow_verb_noun_swap=False),
        MaxModificationRate(max_rate=0.1, min_threshold=4),
        WordEmbeddingDistance(embedding=embedding, min_cos_sim=params["min_cos_sim"]),
        _encoder(
            where,
            "a2t",
            params["similarity_threshold"],
            compare_against_original=True,
            window_size=None,
        ),
    ]
    return constraints, transformation, GreedyWordSwapWIR(wir_method="gradient")


RECIPES = {
    "deepwordbug": _deepwordbug,
    "pwws": _pwws,
    "textfooler": _textfooler,
    "bae": _bae,
    "bert_attack": _bert_attack,
    "a2t": _a2t,
}


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _max_positions(model) -> int:
    return min(512, getattr(model.config, "max_position_embeddings", 512))


# -- any other recipe -------------------------------------------------------------------------
def recipe_classes() -> dict[str, type[AttackRecipe]]:
    """TextAttack's recipe classes by every name a user may give: the class name, the module
    name (``pso_zang_2020``) and TextAttack's command-line name (``pso``), all lowercased."""
    from textattack.attack_args import ATTACK_RECIPE_NAMES

    recipes = importlib.import_module("textattack.attack_recipes")
    names: dict[str, type[AttackRecipe]] = {}
    for attr in dir(recipes):
        cls = getattr(recipes, attr)
        if inspect.isclass(cls) and issubclass(cls, AttackRecipe) and cls is not AttackRecipe:
            names[attr.lower()] = cls
            names[cls.__module__.rsplit(".", 1)[-1].lower()] = cls
    for short, target in ATTACK_RECIPE_NAMES.items():
        attr = target.rsplit(".", 1)[-1]
        if hasattr(recipes, attr):
            names[short.lower()] = getattr(recipes, attr)
    return names


@contextlib.contextmanager
def _substitutes(module, where: Layout, mlm: str | None, recipe: str) -> Iterator[None]:
    """Swap the downloading components named in a recipe's module for the offline ones."""

    def use(threshold=0.8, metric="angular", **kwargs):
        calibration = similarity.load_calibration(where.similarity)
        mapped, _ = similarity.threshold_for(threshold, calibration)
        return MiniLMSentenceEncoder(
            similarity.shared_similarity(), threshold=mapped, metric="cosine", **kwargs
        )

    def part_of_speech(*args, allow_verb_noun_swap=True, compare_against_original=True, **_):
        return WordNetPartOfSpeech(allow_verb_noun_swap, compare_against_original)

    def masked_lm(*args, masked_language_model=None, tokenizer=None, **kwargs):
        model, lm_tokenizer = load_masked_lm(mlm, recipe)
        return DynamicPaddingMaskedLM(
            *args, masked_language_model=model, tokenizer=lm_tokenizer, **kwargs
        )

    replacements = {
        "UniversalSentenceEncoder": use,
        "PartOfSpeech": part_of_speech,
        "WordSwapWordNet": OfflineWordSwapWordNet,
        "WordSwapMaskedLM": masked_lm,
    }
    saved = {name: getattr(module, name) for name in replacements if hasattr(module, name)}
    default_embedding = WordEmbedding.counterfitted_GLOVE_embedding
    try:
        for name in saved:
            setattr(module, name, replacements[name])
        WordEmbedding.counterfitted_GLOVE_embedding = staticmethod(lambda: synonym_embedding(where))
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
        WordEmbedding.counterfitted_GLOVE_embedding = default_embedding


def build_any_recipe(recipe: str, wrapper: ModelWrapper, where: Layout, params: dict) -> Attack:
    """Any TextAttack recipe by name, built by its own ``build()`` with the offline
    substitutes; components with no substitute fail with ``offline.DownloadRefused``."""
    classes = recipe_classes()
    key = recipe.lower()
    if key not in classes:
        raise UserError(
            f"textattack recipe {recipe!r} is unknown; one of: {', '.join(sorted(classes))}."
        )
    cls = classes[key]
    module = importlib.import_module(cls.__module__)
    try:
        with _substitutes(module, where, params.get("mlm"), recipe):
            attack = cls.build(wrapper)
    except UserError:
        raise
    except (ImportError, OSError) as error:
        raise UserError(
            f"textattack recipe {recipe!r} needs a component that is not available offline "
            f"({_first_line(error)}); the built-in attacks (deepwordbug, pwws, textfooler, bae, "
            "bert_attack) run offline."
        ) from error
    except Exception as error:  # e.g. gradient recipes, which need a word-level model
        raise UserError(
            f"textattack recipe {recipe!r} cannot be built for this classifier "
            f"({type(error).__name__}: {_first_line(error)})."
        ) from error
    if not isinstance(attack.goal_function, UntargetedClassification | TargetedClassification):
        raise UserError(
            f"textattack recipe {recipe!r} does not attack a classifier's prediction (its goal "
            f"is {type(attack.goal_function).__name__})."
        )
    attack.goal_function.batch_size = params["batch_size"]
    if params.get("query_budget"):
        attack.goal_function.query_budget = params["query_budget"]
    frozen = attack.pre_transformation_constraints
    if not any(isinstance(c, InputColumnModification) for c in frozen):
        frozen.append(InputColumnModification(list(COLUMNS), {"premise"}))
    return attack


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence TextAttack's info / compatibility warnings while building."""
    logger = textattack_logger
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its logger.warn calls
            yield
    finally:
        logger.setLevel(level)


# -- one attack session (one process) ---------------------------------------------------------
def outcome(result) -> str:
    return type(result).__name__.replace("AttackResult", "").lower()


class Session:
    """An attack built once and run example by example, each from its own seed."""

    def __init__(self, model: Classifier, name: str, where: Layout, params: dict) -> None:
        self.wrapper = FastModelWrapper(model, params["batch_size"])
        similarity.clear_shared_caches()
        with quiet(), hub_offline():
            if name == "textattack":
                self.attack = build_any_recipe(params["recipe"], self.wrapper, where, params)
            else:
                self.attack = build_attack(name, self.wrapper, where, params)

    def run(self, key: str | int, example: Example, seed: int) -> dict:
        """Attack one example; a JSON-ready row for the adversarial-examples file."""
        from textattack.shared.utils import set_seed

        set_seed(seed)
        with hub_offline():
            result = self.attack.attack(to_attacked_text(example), example.label)
        return describe(key, example, result)


def attack_one(session: Session, key: str, row: Example, seed: int) -> dict:
    """``session.run`` with the example named in any error but a ``UserError``."""
    try:
        return session.run(key, row, seed)
    except UserError:
        raise
    except Exception as error:
        raise RuntimeError(f"example {key} ({row.text[:60]!r}): {error}") from error


def describe(key: str | int, example: Example, result) -> dict:
    original = result.original_result
    perturbed = result.perturbed_result
    status = outcome(result)
    before, after = original.attacked_text, perturbed.attacked_text
    column = -1  # the attacked column: the sentence, or the hypothesis of a pair
    words = before.words_per_input[column]
    changed = sum(a != b for a, b in zip(words, after.words_per_input[column], strict=False)) + abs(
        len(words) - len(after.words_per_input[column])
    )
    row = {
        "id": key,
        "label": example.label,
        "result": status,
        "text": example.text,
        **({"pair": example.pair} if example.pair is not None else {}),
        "adversarial": _columns(after)[column] if status == "successful" else None,
        "original_output": int(original.output),
        "adversarial_output": int(perturbed.output),
        "original_probs": [round(float(p), 6) for p in original.raw_output],
        "adversarial_probs": [round(float(p), 6) for p in perturbed.raw_output],
        "queries": int(perturbed.num_queries),  # TextAttack's count (1 for skipped)
        "words": len(words),
        "perturbed_words": changed if status == "successful" else 0,
    }
    return row


def _columns(text: AttackedText) -> tuple[str, ...]:
    value = text.tokenizer_input
    return (value,) if isinstance(value, str) else tuple(value)
