"""Fine-tune a stock BertForSequenceClassification from the MiniLM folder on SST-2, outside the
harness, with the plain ``transformers`` Trainer, and save it with ``save_pretrained``.

The result is a model the harness did not train, for the SST-2 board's ``hf_classifier`` row::

    python examples/train_hf_sst2.py models/hf-sst2-seed0 --data-dir ../shared/data --seed 0

Same data and schedule as ``suites/sst2.yaml``'s ``baseline`` recipe, so the two rows differ in
how they were trained, not in what they were trained on:

- data: the project's SST-2 task with ``train_size: 10000`` (``tasks.sentiment.SST2``: the same
  seeded 10k subset of SST-2 train the suite trains every recipe on);
- schedule: 1 epoch, batch 32, AdamW at lr 1e-4, linear warmup over 10% of the steps then linear
  decay, weight decay 0.01 (not on biases and LayerNorm), gradient norm clipped at 1.0,
  ``max_length`` 64, dropout 0.1.

What differs, on purpose (it is the stock ``transformers`` way): the model is
``BertForSequenceClassification`` (BERT's tanh pooler over [CLS], then a linear head) where the
harness's baseline mean-pools the tokens into its own linear head; batches are drawn by the
Trainer's seeded random sampler (the harness draws length-bucketed batches); the Trainer rounds
the warmup steps up (the harness rounds down). ``training.json`` in the output folder keeps the
Trainer's run time and steps, for comparing training speed with the harness's checkpoint meta.

``--max-steps N`` stops early (a smoke test); the saved folder then is a barely trained model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

LABELS = ("negative", "positive")


class Encoded:
    """The tokenised examples as the list-of-dicts dataset the Trainer reads."""

    def __init__(self, tokenizer, examples, max_length: int) -> None:
        encoded = tokenizer([e.text for e in examples], truncation=True, max_length=max_length)
        self.rows = [
            {**{key: values[i] for key, values in encoded.items()}, "labels": e.label}
            for i, e in enumerate(examples)
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="Folder to save_pretrained the model into.")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=os.environ.get("RBNLP_DATA_DIR"),
        help="The data folder (sst2/train.tsv); default $RBNLP_DATA_DIR, else the hub.",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=-1, help="Stop early (smoke test).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from transformers import (
        AutoTokenizer,
        BertForSequenceClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from robustbench_nlp.model.backbones import minilm_path
    from robustbench_nlp.tasks.sentiment import SST2

    data = SST2(train_size=args.train_size).load(args.data_dir)
    backbone = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    set_seed(args.seed)
    model = BertForSequenceClassification.from_pretrained(
        backbone,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )
    training = TrainingArguments(
        output_dir=str(args.output / "trainer"),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        seed=args.seed,
        data_seed=args.seed,
        save_strategy="no",
        logging_steps=50,
        report_to="none",
    )
    trainer = Trainer(
        model=model,
        args=training,
        train_dataset=Encoded(tokenizer, data.train, args.max_length),
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    shutil.rmtree(args.output / "trainer", ignore_errors=True)  # the Trainer's scratch folder
    model.save_pretrained(args.output)
    tokenizer.save_pretrained(args.output)
    summary = {
        "seed": args.seed,
        "train_examples": len(data.train),
        "data": data.source,
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "seconds": round(seconds, 2),
        "device": str(training.device),
        "arguments": {k: str(v) for k, v in vars(args).items()},
    }
    (args.output / "training.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
