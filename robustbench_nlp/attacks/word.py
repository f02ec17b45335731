"""Word-level attacks through TextAttack, offline: DeepWordBug, PWWS, TextFooler, BAE, BERT-Attack
and any other TextAttack recipe by name.

Each suite entry builds the recipe as TextAttack's ``build()`` does (goal function + constraints
+ transformation + search, ``ta_components.build_attack``) with local resources in place of the
downloads (``robustbench-nlp resources prepare``; see ``robustbench_nlp/resources.py``), queries
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
threads), so a Python script that runs such an attack needs the usual
``if __name__ == "__main__":`` guard; the command line has it.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import Field, field_validator
from tqdm.auto import tqdm

from robustbench_nlp import resources
from robustbench_nlp.attacks.base import Attack, AttackContext, AttackResult, Column
from robustbench_nlp.checkpoints import stable_hash
from robustbench_nlp.classifier import Classifier
from robustbench_nlp.errors import UserError
from robustbench_nlp.tasks.base import Example

BASE_RESOURCES = ("stopwords", "wordnet", "textattack-cache")


def example_seed(seed: int, index: int) -> int:
    """The seed of one example: fixed by (cell seed, example index) alone."""
    return int(stable_hash([seed, index], length=8), 16)


class WordAttack(Attack):
    """Base of the TextAttack word-level attacks (one subclass per recipe)."""

    #: The recipe ``ta_components.build_attack`` builds ("textattack": any recipe by name).
    builder: ClassVar[str] = ""
    #: Resources (``resources.check`` names) the recipe needs.
    needs: ClassVar[tuple[str, ...]] = BASE_RESOURCES

    batch_size: int = Field(64, ge=1, description="Model queries per forward pass.")
    workers: int = Field(1, ge=1, description="Processes the examples are sharded across.")
    query_budget: int | None = Field(None, gt=0, description="Most model queries per example.")

    def run(self, model: Classifier, context: AttackContext, label: str) -> AttackResult:
        rows = self.examples(context)
        resources.require(*self.needs)
        model.eval()
        results, forwarded = self.attack_all(model, rows, context.seed, label)
        self._add_similarity(results, rows)
        artifact = self._export(results, context)
        metrics = summarise(results)
        metrics["model_forwards_per_example"] = forwarded / max(1, len(rows))
        return AttackResult(metrics, columns(label), len(rows), [artifact])

    def attack_all(
        self, model: Classifier, rows: list[Example], seed: int, label: str = ""
    ) -> tuple[list[dict], int]:
        """One result row per example, in example order, and the number of model forwards."""
        jobs = [(index, row, example_seed(seed, index)) for index, row in enumerate(rows)]
        bar = tqdm(total=len(rows), desc=f"{label or self.builder} seed={seed}", unit="ex")
        try:
            if min(self.workers, len(rows)) <= 1:
                return self._attack_here(model, jobs, bar)
            return self._attack_in_workers(model, jobs, bar)
        finally:
            bar.close()

    def _attack_here(self, model: Classifier, jobs: list, bar) -> tuple[list[dict], int]:
        resources.offline_textattack()
        from robustbench_nlp.attacks.ta_components import Session

        session = Session(model, self.builder, resources.layout(), self.params())
        results = []
        for job in jobs:
            results.append(_attack_one(session, *job))
            bar.update()
        return results, session.wrapper.forwarded

    def _attack_in_workers(self, model: Classifier, jobs: list, bar) -> tuple[list[dict], int]:
        """Examples handed out one at a time to spawned workers (each builds the attack once,
        with cores / workers torch threads); rows merged back in example order."""
        workers = min(self.workers, len(jobs))
        threads = max(1, (os.cpu_count() or 1) // workers)
        init = (model, self.builder, self.params(), str(resources.resources_dir()), threads)
        spawn = torch.multiprocessing.get_context("spawn")  # fork is unsafe after torch threads
        pool = ProcessPoolExecutor(workers, spawn, _init_worker, init)
        results, forwarded = [], 0
        try:
            for future in as_completed([pool.submit(_work, *job) for job in jobs]):
                row, count = future.result()
                results.append(row)
                forwarded += count
                bar.update()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # the first error ends the cell
            raise
        pool.shutdown()
        return sorted(results, key=lambda r: r["index"]), forwarded

    def _add_similarity(self, results: list[dict], rows: list[Example]) -> None:
        done = [r for r in results if r["result"] == "successful"]
        if not done:
            return
        from robustbench_nlp.attacks.similarity import MiniLMSimilarity

        originals = [_attacked_column(rows[r["index"]]) for r in done]
        scores = MiniLMSimilarity().cosine(originals, [r["adversarial"] for r in done])
        for row, score in zip(done, scores.tolist(), strict=True):
            row["similarity"] = round(score, 6)

    def _export(self, results: list[dict], context: AttackContext) -> str:
        name = f"{context.artifact_prefix}.adv.jsonl"
        folder = Path(context.artifact_dir)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.tmp"
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results))
        os.replace(tmp, folder / name)
        return name


def _attacked_column(example: Example) -> str:
    return example.text if example.pair is None else example.pair


def _attack_one(session, index: int, row: Example, seed: int) -> dict:
    try:
        return session.run(index, row, seed)
    except UserError:
        raise
    except Exception as error:
        raise RuntimeError(f"example {index} ({row.text[:60]!r}): {error}") from error


_WORKER: dict[str, Any] = {}


def _init_worker(model, builder: str, params: dict, root: str, threads: int) -> None:
    torch.set_num_threads(threads)
    os.environ[resources.RESOURCES_ENV] = root
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        resources.offline_textattack()
        from robustbench_nlp.attacks.ta_components import Session

        _WORKER["session"] = Session(model.eval(), builder, resources.layout(), params)
    except Exception as error:  # raised by the first task, so the parent sees the message
        _WORKER["error"] = error
    _WORKER["forwarded"] = 0


def _work(index: int, row: Example, seed: int) -> tuple[dict, int]:
    if "error" in _WORKER:
        raise _WORKER["error"]
    session = _WORKER["session"]
    result = _attack_one(session, index, row, seed)
    forwarded = session.wrapper.forwarded - _WORKER["forwarded"]
    _WORKER["forwarded"] = session.wrapper.forwarded
    return result, forwarded


def summarise(results: list[dict]) -> dict[str, float]:
    """Cell metrics from the per-example rows (see the module docstring)."""
    n = len(results)
    count = {k: sum(r["result"] == k for r in results) for k in ("successful", "failed", "skipped")}
    attacked = count["successful"] + count["failed"]
    done = [r for r in results if r["result"] == "successful"]
    metrics = {
        "clean_accuracy": attacked / n if n else 0.0,
        "attack_accuracy": count["failed"] / n if n else 0.0,
        "succeeded": float(count["successful"]),
        "failed": float(count["failed"]),
        "skipped": float(count["skipped"]),
    }
    if attacked:
        metrics["attack_success_rate"] = count["successful"] / attacked
        metrics["avg_queries"] = (
            sum(r["queries"] for r in results if r["result"] != "skipped") / attacked
        )
    if done:
        metrics["avg_perturbed_fraction"] = sum(
            r["perturbed_words"] / max(1, r["words"]) for r in done
        ) / len(done)
        if all("similarity" in r for r in done):
            metrics["avg_similarity"] = sum(r["similarity"] for r in done) / len(done)
    return metrics


def columns(label: str) -> list[Column]:
    return [
        Column("attack_accuracy", label),
        Column("clean_accuracy", "clean", table="detail"),
        Column("attack_success_rate", "success rate", table="detail", higher_is_better=False),
        Column("avg_queries", "queries", table="detail", percent=False),
        Column("avg_perturbed_fraction", "words perturbed %", table="detail"),
        Column(
            "avg_similarity",
            "similarity",
            table="detail",
            percent=False,
            higher_is_better=False,
        ),
        Column("skipped", "skipped", table="detail", percent=False, higher_is_better=False),
        Column("failed", "failed", table="detail", percent=False),
    ]


class DeepWordBug(WordAttack):
    """DeepWordBug (Gao et al. 2018): character edits on the most important words.

    Neighbouring-character swap, substitution, deletion and insertion; stopwords and already
    edited words are left alone; at most ``max_edits`` Levenshtein edits in all; words ranked by
    the score drop when each is replaced by [UNK], then edited greedily.
    """

    builder: ClassVar[str] = "deepwordbug"

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


class TextFooler(WordAttack):
    """TextFooler (Jin et al. 2020): counter-fitted synonyms, POS and sentence-similarity checks.

    Candidates: the ``max_candidates`` nearest neighbours in the counter-fitted MiniLM synonym
    space, kept if their word cosine is at least ``min_cos_sim``, they share a WordNet part of
    speech, and MiniLM finds the 15-word window around the swap similar enough to the previous
    text; words ranked by the score drop when deleted, then swapped greedily.
    """

    builder: ClassVar[str] = "textfooler"
    needs: ClassVar[tuple[str, ...]] = (*BASE_RESOURCES, "synonyms", "similarity")

    max_candidates: int = Field(50, ge=1, description="Nearest neighbours tried per word.")
    min_cos_sim: float = Field(0.5, gt=-1, le=1, description="Least word-vector cosine of a swap.")
    similarity_threshold: float | None = Field(
        None, description="MiniLM cosine; default: USE's 0.8408 mapped on STS-B dev."
    )


class MaskedLMAttack(WordAttack):
    """Base of the attacks whose candidates come from a masked language model (``mlm``).

    There is no default: MiniLM has no masked-LM head, and a randomly initialised head would
    propose random words, so a suite must name a model saved with its head.
    """

    mlm: str | None = Field(
        None,
        validate_default=True,
        description="Masked LM saved with its head: a folder, or a hub id in the local cache.",
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

    max_candidates: int = Field(8, ge=1)
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
