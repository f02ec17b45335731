"""Word-level attacks through TextAttack, offline: DeepWordBug, PWWS, TextFooler, BAE, BERT-Attack,
A2T and any other TextAttack recipe by name.

Each suite entry builds the recipe as TextAttack's ``build()`` does (goal function + constraints
+ transformation + search, ``ta_components.build_attack``) with local resources in place of the
downloads (``robustbench-nlp resources prepare``; see ``robustbench_nlp/resources/``), queries
the classifier through a fast wrapper (dynamic padding, inference mode, batching, a query cache)
and can shard the examples over worker processes. Every example is attacked from its own seed,
so results do not depend on the number of workers or on the other examples.

Example (a suite entry)::

    - name: textfooler
      params: {max_examples: 300, workers: 2}

NLI pairs (premise, hypothesis) are attacked in the hypothesis only. Reported per cell (over the
attacked examples): clean accuracy, accuracy under attack (main table), attack success rate over
the originally correct examples, average queries (TextAttack's count) over the attacked ones,
and over the successful ones the average fraction of words perturbed (of the attacked sentence)
and the MiniLM cosine similarity between original and adversarial sentence; plus the counts of
skipped (misclassified before the attack) and failed examples. The adversarial examples are
written next to the record as ``<cell>.adv.jsonl``.

TextAttack is imported only when an attack runs (never by ``robustbench-nlp list``). With
``workers > 1`` the workers are spawned processes (fork is unsafe once torch has started its
threads), started once per process and shared by all its word-attack cells (``workers.py``:
importing TextAttack and building its resources is paid once, not once per cell), so a Python
script that runs such an attack needs the usual
``if __name__ == "__main__":`` guard; the command line has it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from robustbench_nlp.attacks.base import Attack
from robustbench_nlp.attacks.textattack import workers
from robustbench_nlp.attacks.textattack.offline import offline_textattack
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.files import atomic_write_text
from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.measure.base import ADVERSARIAL_SUFFIX, MeasureContext, Work
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.resources.layout import PREPARED_MLM, layout, require
from robustbench_nlp.tasks.base import Example

BASE_RESOURCES = ("stopwords", "wordnet", "textattack-cache")


def example_seed(seed: int, key: str | int) -> int:
    """The seed of one example: fixed by (cell seed, example id) alone."""
    return int(stable_hash([seed, key], length=8), 16)


#: What a word attack reports, computed from its per-example outcomes.
WORD_METRICS = (
    Metric("attack_accuracy", field="correct"),
    Metric("clean_accuracy", "clean", table="detail", field="clean_correct"),
    Metric(
        "attack_success_rate",
        "success rate",
        table="detail",
        higher_is_better=False,
        field="fooled",
        where="clean_correct",
    ),
    Metric(
        "avg_queries",
        "queries",
        table="detail",
        percent=False,
        field="queries",
        where="clean_correct",
    ),
    Metric(
        "avg_perturbed_fraction",
        "words perturbed %",
        table="detail",
        field="perturbed_fraction",
        where="fooled",
    ),
    Metric(
        "avg_similarity",
        "similarity",
        table="detail",
        percent=False,
        higher_is_better=False,
        field="similarity",
        where="fooled",
    ),
    Metric(
        "skipped",
        "skipped",
        table="detail",
        percent=False,
        higher_is_better=False,
        reduce="count",
        where="!clean_correct",
    ),
    Metric("failed", "failed", table="detail", percent=False, reduce="count", where="correct"),
    Metric("succeeded", "succeeded", table="hidden", percent=False, reduce="count", where="fooled"),
    Metric(
        "model_forwards_per_example",
        "model forwards",
        table="hidden",
        percent=False,
        field="forwards",
    ),
)
#: TextAttack outcomes that leave the model right: the search failed, or ran out of queries.
STILL_RIGHT = ("failed", "maximumqueriesexhausted")
#: How many examples are handed to the attack (and its workers) at a time, per worker.
CHUNK_PER_WORKER = 8


class WordAttack(Attack):
    """Base of the TextAttack word-level attacks (one subclass per recipe)."""

    writes_adversarial_examples: ClassVar[bool] = True
    #: Model forwards per attacked example, for ``plan`` before any cell of the attack has
    #: finished (after that, the folder's own cells say): recorded on the SST-2 board
    #: (``model_forwards_per_example``, 300 sentences, MiniLM recipes).
    expected_forwards: ClassVar[float] = 50.0
    #: Cell time over model time (the search, the constraints' own encoders), rough.
    expected_overhead: ClassVar[float] = 2.5
    #: Importing TextAttack and building the attack, once per process.
    fixed_seconds: ClassVar[float] = 7.0

    #: The recipe ``components.build_attack`` builds ("textattack": any recipe by name).
    builder: ClassVar[str] = ""
    #: Resources (``resources.layout.check`` names) the recipe needs.
    needs: ClassVar[tuple[str, ...]] = BASE_RESOURCES
    metric_specs: ClassVar[tuple[Metric, ...]] = WORD_METRICS
    #: Queries are new perturbed texts; the wrapper caches them itself.
    cache_tokens: ClassVar[bool] = False

    batch_size: int = Field(64, ge=1, description="Model queries per forward pass.")
    workers: int = Field(1, ge=1, description="Processes the examples are sharded across.")
    query_budget: int | None = Field(None, gt=0, description="Most model queries per example.")

    def planned_work(self, n_examples: int) -> Work:
        return Work(
            forwards=n_examples * self.expected_forwards,
            fixed_seconds=self.fixed_seconds,
            overhead=self.expected_overhead,
        )

    def resource_names(self) -> tuple[str, ...]:
        return self.needs

    def preflight(self, data_dir: Path | None, task) -> None:
        require(*self.needs)

    def order(self, rows, model):
        """The examples' own order: each is attacked alone (no padding across examples), and
        the adversarial examples file keeps the order of the set."""
        return list(range(len(rows)))

    def batches(self, rows: list[Example]):
        size = CHUNK_PER_WORKER * self.workers
        for start in range(0, len(rows), size):
            yield rows[start : start + size]

    def measure(self, model: Classifier, batch: list[Example], context: MeasureContext):
        if "attacker" not in context.state:
            require(*self.needs)
            context.state["attacker"] = _Attacker(self, model)
            context.state["rows"] = []
        jobs = [(e.id, e, example_seed(context.seed, e.id)) for e in batch]
        results = context.state["attacker"].attack(jobs)
        self._add_similarity(results, batch, context)
        context.state["rows"] += results
        return outcome_fields(results)

    def attack_examples(
        self,
        model: Classifier,
        rows: list[Example],
        seed: int,
        each_chunk: Callable[[list[dict]], bool | None] | None = None,
    ) -> tuple[list[dict], int]:
        """Attack ``rows`` outside a cell (for augmentation, adversarial training and tests): one
        result row per example, in order, and the model forwards it took. Same seeds as in a
        cell, so the rows do not depend on the chunks or the workers.

        ``each_chunk``: called with the result rows of every chunk of ``CHUNK_PER_WORKER x
        workers`` examples as it finishes (a progress bar); when it returns True the rest are
        not attacked and only the rows attacked so far are returned."""
        require(*self.needs)
        attacker = _Attacker(self, model.eval())
        jobs = [(e.id, e, example_seed(seed, e.id)) for e in rows]
        size = CHUNK_PER_WORKER * self.workers if each_chunk is not None else max(1, len(jobs))
        results: list[dict] = []
        try:
            for start in range(0, len(jobs), size):
                chunk = attacker.attack(jobs[start : start + size])
                results += chunk
                if each_chunk is not None and each_chunk(chunk):
                    break
        finally:
            attacker.close()
        return results, sum(r.pop("forwards") for r in results)

    def close(self, context: MeasureContext) -> None:
        attacker = context.state.pop("attacker", None)
        if attacker is not None:
            attacker.close()

    def export(self, outcomes, context: MeasureContext) -> list[str]:
        """The adversarial examples, one JSON row per attacked example, beside the record."""
        name = f"{context.artifact_prefix}{ADVERSARIAL_SUFFIX}"
        rows = context.state.get("rows", [])
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        atomic_write_text(Path(context.artifact_dir) / name, text)
        return [name]

    def _add_similarity(self, results: list[dict], rows: list[Example], context) -> None:
        done = [(r, e) for r, e in zip(results, rows, strict=True) if r["result"] == "successful"]
        if not done:
            return
        if "similarity" not in context.state:
            from robustbench_nlp.resources.similarity import shared_similarity

            context.state["similarity"] = shared_similarity()
        originals = [_attacked_column(e) for _, e in done]
        scores = context.state["similarity"].cosine(originals, [r["adversarial"] for r, _ in done])
        for (row, _), score in zip(done, scores.tolist(), strict=True):
            row["similarity"] = round(score, 6)


def outcome_fields(results: list[dict]) -> dict[str, list]:
    """Per-example outcome fields from TextAttack result rows (``components.describe``)."""
    fooled = [r["result"] == "successful" for r in results]
    return {
        "result": [r["result"] for r in results],
        "clean_correct": [r["result"] != "skipped" for r in results],
        "correct": [r["result"] in STILL_RIGHT for r in results],
        "fooled": fooled,
        "queries": [r["queries"] for r in results],
        "perturbed_fraction": [
            r["perturbed_words"] / max(1, r["words"]) if f else None
            for r, f in zip(results, fooled, strict=True)
        ],
        "similarity": [r.get("similarity") for r in results],
        "adversarial": [r.get("adversarial") for r in results],
        "forwards": [r.pop("forwards", None) for r in results],
    }


class _Attacker:
    """The TextAttack session of one cell: built here, or in the process's shared worker pool
    (``workers.py``: spawned once per process, each worker with cores / workers torch
    threads, the cell's model handed over once), and fed example after example."""

    def __init__(self, attack: WordAttack, model: Classifier) -> None:
        self.workers = attack.workers
        self.cell = None
        if self.workers <= 1:
            offline_textattack()  # once per process: later cells find it imported
            from robustbench_nlp.attacks.textattack.components import Session

            self.session = Session(model, attack.builder, layout(), attack.params())
        else:
            self.cell = workers.CellModel(model, attack.builder, attack.params())

    def attack(self, jobs: list) -> list[dict]:
        """One result row per job, in job order (``forwards``: model forwards it took)."""
        if self.cell is None:
            from robustbench_nlp.attacks.textattack.components import attack_one

            rows = []
            for job in jobs:
                before = self.session.wrapper.forwarded
                row = attack_one(self.session, *job)
                row["forwards"] = self.session.wrapper.forwarded - before
                rows.append(row)
            return rows
        futures = workers.submit(self.workers, self.cell.spec, jobs)
        try:
            results = [future.result() for future in futures]
        except BrokenProcessPool:
            workers.discard(workers.pool(self.workers))
            raise
        except BaseException:
            for future in futures:  # the first error ends the cell; the pool stays
                future.cancel()
            raise
        return [{**row, "forwards": count} for row, count in results]

    def close(self) -> None:
        if self.cell is not None:
            self.cell.close()
            self.cell = None


def _attacked_column(example: Example) -> str:
    return example.text if example.pair is None else example.pair


class DeepWordBug(WordAttack):
    """DeepWordBug (Gao et al. 2018): character edits on the most important words.

    Neighbouring-character swap, substitution, deletion and insertion; stopwords and already
    edited words are left alone; at most ``max_edits`` Levenshtein edits in all; words ranked by
    the score drop when each is replaced by [UNK], then edited greedily.
    """

    builder: ClassVar[str] = "deepwordbug"
    expected_forwards: ClassVar[float] = 21.0

    use_all_transformations: bool = Field(
        True, description="Swap, substitute, delete and insert characters (else substitute only)."
    )
    max_edits: int = Field(30, ge=1, description="Levenshtein budget over the whole text.")


class PWWS(WordAttack):
    """PWWS (Ren et al. 2019): WordNet synonyms ranked by probability-weighted word saliency.

    Synonyms from English WordNet (no multilingual WordNet needed); stopwords are left alone;
    words ranked by softmax([UNK] saliency) x best swap gain, then swapped greedily.
    """

    builder: ClassVar[str] = "pwws"
    expected_forwards: ClassVar[float] = 87.0


class TextFooler(WordAttack):
    """TextFooler (Jin et al. 2020): counter-fitted synonyms, POS and sentence-similarity checks.

    Candidates: the ``max_candidates`` nearest neighbours in the counter-fitted MiniLM synonym
    space, kept if their word cosine is at least ``min_cos_sim``, they share a WordNet part of
    speech, and MiniLM finds the 15-word window around the swap similar enough to the previous
    text; words ranked by the score drop when deleted, then swapped greedily.
    """

    builder: ClassVar[str] = "textfooler"
    expected_forwards: ClassVar[float] = 35.0
    needs: ClassVar[tuple[str, ...]] = (*BASE_RESOURCES, "synonyms", "similarity")

    max_candidates: int = Field(50, ge=1, description="Nearest neighbours tried per word.")
    min_cos_sim: float = Field(0.5, gt=-1, le=1, description="Least word-vector cosine of a swap.")
    similarity_threshold: float | None = Field(
        None, description="MiniLM cosine; default: USE's 0.8408 mapped on STS-B dev."
    )


class A2TAttack(WordAttack):
    """A2T (Yoo & Qi 2021): gradient-ranked counter-fitted swaps, cheap checks, for training.

    TextAttack's ``A2TYoo2021`` (``mlm=False``): the ``max_candidates`` nearest neighbours in the
    counter-fitted MiniLM synonym space, kept if their word cosine is at least ``min_cos_sim``,
    they share a WordNet part of speech (nouns and verbs apart), at most max(ceil(10% of the
    words), 4) words change, no stopword, and MiniLM finds the whole text similar enough to the
    original (for SBERT ``stsb-distilbert-base`` at cosine 0.9); words ranked by the L1 norm of
    the loss gradient at their word embeddings (one forward and backward pass), then swapped
    greedily. The attack the ``a2t`` recipe trains against.
    """

    builder: ClassVar[str] = "a2t"
    #: Measured once: 1,045 forwards for 200 SST-2 training sentences (a briefly trained MiniLM
    #: baseline, query budget 200), not yet on a board.
    expected_forwards: ClassVar[float] = 5.2
    needs: ClassVar[tuple[str, ...]] = (*BASE_RESOURCES, "synonyms", "similarity")

    max_candidates: int = Field(20, ge=1, description="Nearest neighbours tried per word.")
    min_cos_sim: float = Field(0.8, gt=-1, le=1, description="Least word-vector cosine of a swap.")
    similarity_threshold: float | None = Field(
        None, description="MiniLM cosine; default: SBERT's 0.9 mapped on STS-B dev."
    )


class MaskedLMAttack(WordAttack):
    """Base of the attacks whose candidates come from a masked language model (``mlm``).

    There is no default: MiniLM has no masked-LM head, and a randomly initialised head would
    propose random words, so a suite must name a model saved with its head.
    """

    mlm: str | None = Field(
        None,
        validate_default=True,
        description=(
            f"Masked LM saved with its head: a folder, a hub id in the local cache, or "
            f"{PREPARED_MLM!r} (MiniLM's head trained by "
            "`robustbench-nlp resources prepare --mlm`)."
        ),
    )

    def resource_names(self) -> tuple[str, ...]:
        """The prepared MLM is a resource: its fingerprint is part of the cells' identity."""
        return (*self.needs, "mlm") if self.mlm == PREPARED_MLM else self.needs

    def preflight(self, data_dir: Path | None, task) -> None:
        require(*self.resource_names())
        if self.mlm == PREPARED_MLM:
            return
        path = Path(self.mlm or "").expanduser()
        looks_local = path.exists() or self.mlm.startswith((".", "/", "~")) or "\\" in self.mlm
        if looks_local and not (path / "config.json").is_file():
            raise UserError(
                f"attack {self.plugin_name}: mlm {self.mlm}: no model folder there (no "
                "config.json); give a folder saved with save_pretrained, with its masked-LM head."
            )

    @field_validator("mlm")
    @classmethod
    def _mlm_given(cls, value: str | None) -> str | None:
        if not value:
            raise ValueError(
                f"{cls.__name__} needs a masked language model: set mlm to a local folder (or "
                "hub id) of a model saved with its masked-LM head"
            )
        return value


class BAE(MaskedLMAttack):
    """BAE-R (Garg & Ramakrishnan 2020): masked-LM replacements; needs ``mlm``.

    Each word is masked and the ``max_candidates`` most likely tokens proposed; kept if they
    share a WordNet part of speech and MiniLM finds the 15-word window similar enough to the
    original; words ranked by deletion, then swapped greedily.
    """

    builder: ClassVar[str] = "bae"
    needs: ClassVar[tuple[str, ...]] = (*BASE_RESOURCES, "similarity")

    max_candidates: int = Field(50, ge=1)
    similarity_threshold: float | None = Field(
        None, description="MiniLM cosine; default: USE's 0.9363 mapped on STS-B dev."
    )


class BERTAttack(MaskedLMAttack):
    """BERT-Attack (Li et al. 2020): sub-word masked-LM replacements; needs ``mlm``.

    Candidates from the masked LM's top ``max_candidates`` predictions per sub-word of the
    unmasked text; at most ``max_percent`` of the words changed; MiniLM similarity to the
    original at least the threshold; words ranked by [UNK] replacement, then swapped greedily.
    """

    builder: ClassVar[str] = "bert_attack"
    needs: ClassVar[tuple[str, ...]] = (*BASE_RESOURCES, "similarity")
    version: ClassVar[int] = 2  # 2: K = 48 candidates, as the paper and TextAttack's recipe

    max_candidates: int = Field(48, ge=1, description="K: masked-LM candidates per sub-word.")
    max_percent: float = Field(0.4, gt=0, le=1, description="Most words perturbed (fraction).")
    similarity_threshold: float | None = Field(
        None, description="MiniLM cosine; default: USE's 0.2 mapped on STS-B dev."
    )


class TextAttackRecipe(WordAttack):
    """Any TextAttack recipe by name (``recipe``), with the offline substitutes patched in."""

    builder: ClassVar[str] = "textattack"
    needs: ClassVar[tuple[str, ...]] = (*BASE_RESOURCES, "synonyms", "similarity")

    recipe: str = Field(description="TextAttack recipe: class, module or command-line name.")
    mlm: str | None = Field(None, description="Masked LM for recipes that need one.")

    def preflight(self, data_dir: Path | None, task) -> None:
        """Resources present, and ``recipe`` names a TextAttack recipe (imports TextAttack)."""
        super().preflight(data_dir, task)
        offline_textattack()
        from robustbench_nlp.attacks.textattack.components import recipe_classes

        classes = recipe_classes()
        if self.recipe.lower() not in classes:
            close = difflib.get_close_matches(self.recipe.lower(), classes, n=3, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UserError(
                f"attack textattack: recipe {self.recipe!r} is not a TextAttack recipe.{hint} "
                f"One of: {', '.join(sorted(classes))}."
            )
