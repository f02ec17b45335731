"""Word attacks, this project against stock TextAttack: same recipe, model, examples and seeds.

Run with ``pytest tests/benchmarks/test_word_attack_speed.py --benchmark-only -s`` (needs
``robustbench-nlp resources prepare``). The victim is all-MiniLM-L6-v2 with a linear head fitted
on frozen mean-pooled features of 2,000 SST-2 training sentences (the embedded set without a
data folder); the examples are the first ``RBNLP_BENCH_EXAMPLES`` (default 10) SST-2 dev
sentences. Stock is TextAttack's ``Attacker`` + ``HuggingFaceModelWrapper`` (every query padded
to 512 tokens, batches of 32), one ``Attacker`` per example seeded like ours; DeepWordBug is
TextAttack's own recipe class, TextFooler our offline build of it (stock would download its
vectors and USE). Both sides run with ``RBNLP_BENCH_THREADS`` (default 1) torch threads.

Checked: identical outcome, adversarial text and query count per example; reported: the time
ratio ours / stock (goal <= 0.2) and our wall time over the time the models alone need for the
batches the attack sent them (goal <= 1.5; for TextFooler the sentence encoder is a model too,
and both ratios, victim only and victim + encoder, are reported).
"""

from __future__ import annotations

import os
import time

import pytest
import torch

from robustbench_nlp.attacks.textattack import offline
from robustbench_nlp.attacks.textattack.recipes import DeepWordBug, TextFooler, example_seed
from robustbench_nlp.model.backbones import resolve_backbone
from robustbench_nlp.model.classifier import Classifier, ClassifierSpec
from robustbench_nlp.resources import layout as resources
from robustbench_nlp.tasks.base import Example
from robustbench_nlp.tasks.sentiment import SST2, EmbeddedSentiment
from tests.conftest import SHARED_DATA
from tests.helpers import missing as skip_or_fail

EXAMPLES = int(os.environ.get("RBNLP_BENCH_EXAMPLES", "10"))
THREADS = int(os.environ.get("RBNLP_BENCH_THREADS", "1"))


@pytest.fixture(scope="module")
def victim() -> tuple[Classifier, list[Example]]:
    missing = [s.name for s in resources.check() if not s.ok]
    if missing:
        skip_or_fail(f"offline resources missing ({', '.join(missing)}): {resources.PREPARE}")
    torch.set_num_threads(THREADS)
    if SHARED_DATA.is_dir():
        data = SST2(train_size=2000).load(SHARED_DATA)
    else:
        data = EmbeddedSentiment().load(None)
    backbone = resolve_backbone("minilm")
    model = Classifier(backbone.load_encoder(), backbone.load_tokenizer(), ClassifierSpec(2))
    model.eval()
    with torch.no_grad():
        features = torch.cat(
            [
                model.represent(model.tokenize(data.train[i : i + 64]))
                for i in range(0, len(data.train), 64)
            ]
        )
    labels = torch.tensor([e.label for e in data.train])
    head = torch.nn.Linear(features.size(1), 2)
    optimiser = torch.optim.LBFGS(head.parameters(), max_iter=200)

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(features), labels)
        loss = loss + 1e-3 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    model.head.load_state_dict(head.state_dict())
    return model, data.eval[:EXAMPLES]


def stock_attack(name: str, wrapper, params: dict):
    from textattack.attack_recipes import DeepWordBugGao2018

    from robustbench_nlp.attacks.textattack.components import build_attack, quiet

    with quiet():
        if name == "deepwordbug":
            return DeepWordBugGao2018.build(wrapper)
        return build_attack(name, wrapper, resources.layout(), {**params, "batch_size": 32})


def run_stock(attack, rows: list[Example], seed: int) -> list:
    from textattack import AttackArgs, Attacker
    from textattack.datasets import Dataset

    results = []
    for index, row in enumerate(rows):
        args = AttackArgs(
            num_examples=1,
            random_seed=example_seed(seed, index),
            silent=True,
            disable_stdout=True,
        )
        attacker = Attacker(attack, Dataset([(row.text, row.label)]), args)
        results += attacker.attack_dataset()
    return results


def time_batches(model, batches) -> float:
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            model(model.tokenize(batch))
    return time.perf_counter() - started


class RecordingEncoder:
    """Wraps the sentence encoder of a TextFooler attack to keep the batches it encoded."""

    def __init__(self, similarity) -> None:
        self.similarity = similarity
        self.batches: list[list[str]] = []
        original = similarity.encode

        def encode(sentences):
            new = [s for s in dict.fromkeys(sentences) if s not in similarity._cache]
            if new:
                self.batches.append(new)
            return original(sentences)

        similarity.encode = encode

    def time(self) -> float:
        self.similarity.clear_cache()
        started = time.perf_counter()
        for batch in self.batches:
            self.similarity.encode(batch)
        return time.perf_counter() - started


@pytest.mark.parametrize("attack", [DeepWordBug(), TextFooler()], ids=lambda a: a.builder)
def test_word_attack_speed_against_stock_textattack(benchmark, victim, attack):
    model, rows = victim
    offline.offline_textattack()
    from robustbench_nlp.attacks.textattack.components import MiniLMSentenceEncoder, Session
    from tests import textattack_reference as reference

    stock = stock_attack(attack.builder, reference.stock_model_wrapper(model), attack.params())
    started = time.perf_counter()
    stock_results = run_stock(stock, rows, seed=0)
    stock_seconds = time.perf_counter() - started

    with reference.recording():
        session = Session(model, attack.builder, resources.layout(), attack.params())
    encoders = [
        RecordingEncoder(c.model)
        for c in session.attack.constraints
        if isinstance(c, MiniLMSentenceEncoder)
    ]
    timings = {}

    def ours():
        started = time.perf_counter()
        out = [session.run(i, row, example_seed(0, i)) for i, row in enumerate(rows)]
        timings["ours"] = time.perf_counter() - started
        return out

    our_rows = benchmark.pedantic(ours, rounds=1, iterations=1)
    assert [(r["result"], r["adversarial"], r["queries"]) for r in our_rows] == [
        summary(r) for r in stock_results
    ]

    model_seconds = time_batches(model, session.wrapper.batches)
    encoder_seconds = sum(e.time() for e in encoders)
    ratio = timings["ours"] / stock_seconds
    overhead = timings["ours"] / model_seconds
    overhead_all = timings["ours"] / (model_seconds + encoder_seconds)
    attacked = [r for r in our_rows if r["result"] != "skipped"]
    info = {
        "examples": len(rows),
        "succeeded": sum(r["result"] == "successful" for r in our_rows),
        "attacked": len(attacked),
        "avg_queries": sum(r["queries"] for r in attacked) / max(1, len(attacked)),
        "model_forwards": session.wrapper.forwarded,
        "stock_seconds": round(stock_seconds, 2),
        "ours_seconds": round(timings["ours"], 2),
        "ratio_ours_over_stock": round(ratio, 4),
        "victim_model_seconds": round(model_seconds, 2),
        "encoder_seconds": round(encoder_seconds, 2),
        "wall_over_victim_model": round(overhead, 3),
        "wall_over_all_models": round(overhead_all, 3),
        "threads": THREADS,
    }
    benchmark.extra_info.update(info)
    print(f"\n{attack.builder}: {info}")
    assert ratio <= 0.2, f"ours takes {ratio:.2f}x stock time (goal 0.2x)"
    assert overhead_all <= 1.5, f"wall time is {overhead_all:.2f}x the models' time (goal 1.5x)"


def summary(result) -> tuple:
    from robustbench_nlp.attacks.textattack.components import outcome

    status = outcome(result)
    text = result.perturbed_result.attacked_text.text if status == "successful" else None
    return status, text, result.perturbed_result.num_queries
