"""The classifier every recipe trains and every attack queries: encoder + pooling + linear head.

It owns tokenisation (dynamic padding, optional prompt template; each example encoded on its own
and, inside ``token_cache()``, once) so that recipes and attacks never re-implement it, and it
can run from perturbed word embeddings (``inputs_embeds``), which is what embedding-space attacks
and adversarial recipes perturb. ``perturb_mask`` marks the tokens
that come from the user's text: special tokens and template words are never perturbed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.tasks.base import Example

POOLINGS = ("cls", "mean", "mask")
_PLACEHOLDER = re.compile(r"(\[X\]|\[Y\])")


@dataclass(frozen=True, eq=False)
class Encoded:
    """One example's model inputs before padding (special tokens and template included)."""

    input_ids: np.ndarray
    #: None where the tokenizer gives none (all zeros).
    token_type_ids: np.ndarray | None
    #: True on the tokens of the user's text (what perturbations may touch).
    perturb_mask: np.ndarray


#: The active ``token_cache`` scope: (tokenizer id, template, max_length) -> (tokenizer, rows).
_TOKEN_CACHE: ContextVar[dict | None] = ContextVar("robustbench_nlp_token_cache", default=None)


@contextmanager
def token_cache() -> Iterator[None]:
    """Within the block every classifier tokenises each distinct example once.

    ``Classifier.encode`` keeps the unpadded rows of the examples it has seen, per tokenizer,
    template and max_length (so views sharing an encoder but filling another template keep
    their own rows), and a batch only pads and stacks them. ``Recipe.fit`` trains inside one,
    so no step repeats the tokenisation of an earlier epoch. Nested blocks share the outer
    cache; it is dropped when the outermost block ends.
    """
    if _TOKEN_CACHE.get() is not None:
        yield
        return
    token = _TOKEN_CACHE.set({})
    try:
        yield
    finally:
        _TOKEN_CACHE.reset(token)


@dataclass(frozen=True)
class ClassifierSpec:
    """Everything besides weights needed to rebuild a classifier (saved with checkpoints)."""

    num_labels: int
    pooling: str = "mean"
    max_length: int = 128
    dropout: float = 0.1
    #: Prompt template with [X] (sentence / premise), optional [Y] (hypothesis) and [MASK].
    template: str | None = None
    #: PromptBERT's template denoising: subtract the [MASK] state of the template alone.
    denoise: bool = False
    #: For a pair template: the single-sentence template the encoder represents one sentence
    #: with (what sentence-embedding evaluations such as STS must use).
    sentence_template: str | None = None

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise UserError(f"pooling '{self.pooling}' is not one of {', '.join(POOLINGS)}.")
        if self.denoise and self.pooling != "mask":
            raise UserError("denoise needs pooling 'mask' (it corrects the [MASK] state).")
        if self.pooling == "mask" and (self.template is None or "[MASK]" not in self.template):
            raise UserError("pooling 'mask' needs a template containing [MASK] and [X].")
        if self.template is not None and "[X]" not in self.template:
            raise UserError(f"template {self.template!r} has no [X] for the sentence.")

    def to_dict(self) -> dict:
        return asdict(self)


class Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, tokenizer, spec: ClassifierSpec) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.spec = spec
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(spec.dropout)
        self.head = nn.Linear(hidden, spec.num_labels)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    # -- tokenisation -------------------------------------------------------------------------
    def tokenize(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        """Batch of input_ids / attention_mask / token_type_ids / perturb_mask, padded to the
        longest sequence in the batch (never to max_length).

        Each example is encoded on its own (``encode``; inside ``token_cache()`` once per
        block), then the batch is padded and stacked (``collate``).
        """
        return self.collate(self.encode(examples))

    def encode(self, examples: Sequence[Example]) -> list[Encoded]:
        """The unpadded model inputs of each example; inside ``token_cache()`` each distinct
        example is tokenised once and its row reused by every later batch."""
        cache = _TOKEN_CACHE.get()
        if cache is None:
            return self._encode(examples)
        key = (id(self.tokenizer), self.spec.template, self.spec.max_length)
        owner, rows = cache.setdefault(key, (self.tokenizer, {}))
        if owner is not self.tokenizer:  # another tokenizer at a recycled address
            owner, rows = cache[key] = (self.tokenizer, {})
        missing = list(dict.fromkeys(e for e in examples if e not in rows))
        if missing:
            rows.update(zip(missing, self._encode(missing), strict=True))
        return [rows[e] for e in examples]

    def token_lengths(self, examples: Sequence[Example], chunk: int = 1024) -> list[int]:
        """Tokens of each example as the model sees it (special tokens in, truncated)."""
        lengths: list[int] = []
        for start in range(0, len(examples), chunk):
            lengths += [len(row.input_ids) for row in self.encode(examples[start : start + chunk])]
        return lengths

    def collate(self, rows: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        """Pad encoded rows to the longest one (on the tokenizer's padding side) and stack them
        into tensors on the model's device."""
        width = max((len(row.input_ids) for row in rows), default=0)
        shape = (len(rows), width)
        input_ids = np.full(shape, self.tokenizer.pad_token_id, dtype=np.int64)
        token_types = np.zeros(shape, dtype=np.int64)
        attention = np.zeros(shape, dtype=np.int64)
        perturb = np.zeros(shape, dtype=bool)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for i, row in enumerate(rows):
            n = len(row.input_ids)
            cols = slice(width - n, width) if left else slice(0, n)
            input_ids[i, cols] = row.input_ids
            attention[i, cols] = 1
            perturb[i, cols] = row.perturb_mask
            if row.token_type_ids is not None:
                token_types[i, cols] = row.token_type_ids
        arrays = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "token_type_ids": token_types,
            "perturb_mask": perturb,
        }
        return {key: torch.from_numpy(value).to(self.device) for key, value in arrays.items()}

    def _encode(self, examples: Sequence[Example]) -> list[Encoded]:
        if self.spec.template is not None:
            return self._encode_template(examples)
        rows: list[Encoded | None] = [None] * len(examples)
        singles = [i for i, e in enumerate(examples) if e.pair is None]
        pairs = [i for i, e in enumerate(examples) if e.pair is not None]
        for indices, with_pair in ((singles, False), (pairs, True)):
            if not indices:
                continue
            encoded = self.tokenizer(
                [examples[i].text for i in indices],
                [examples[i].pair for i in indices] if with_pair else None,
                truncation=True,
                max_length=self.spec.max_length,
                return_special_tokens_mask=True,
            )
            types = encoded.get("token_type_ids")
            for j, i in enumerate(indices):
                rows[i] = Encoded(
                    np.asarray(encoded["input_ids"][j], dtype=np.int64),
                    np.asarray(types[j], dtype=np.int64) if types is not None else None,
                    ~np.asarray(encoded["special_tokens_mask"][j], dtype=bool),
                )
        return rows  # type: ignore[return-value]

    def template_parts(self) -> list[str]:
        """The template split into literal pieces and the placeholders [X] / [Y]."""
        assert self.spec.template is not None
        return [part for part in _PLACEHOLDER.split(self.spec.template) if part]

    def _encode_template(self, examples: Sequence[Example]) -> list[Encoded]:
        """Fill the template, truncating the sentences (never the template) to max_length.

        Each literal piece is tokenised on its own, so the [MASK] token and the template words
        keep their ids whatever the sentence length; sentence segments are cut longest-first.
        """
        tok = self.tokenizer
        parts = self.template_parts()
        literal_ids = {
            part: tok(part.strip(), add_special_tokens=False)["input_ids"]
            for part in parts
            if part not in ("[X]", "[Y]")
        }
        # One batched tokeniser call per placeholder, not one per sentence.
        encoded = {
            "[X]": tok([e.text for e in examples], add_special_tokens=False)["input_ids"],
            "[Y]": tok([e.pair or "" for e in examples], add_special_tokens=False)["input_ids"],
        }
        budget = self.spec.max_length - 2 - sum(len(ids) for ids in literal_ids.values())
        if budget < 1:
            raise UserError(f"max_length {self.spec.max_length} leaves no room for the text.")
        rows = []
        for index in range(len(examples)):
            sentence_ids = {key: list(ids[index]) for key, ids in encoded.items()}
            present = [p for p in parts if p in sentence_ids]
            while sum(len(sentence_ids[p]) for p in present) > budget:
                longest = max(present, key=lambda p: len(sentence_ids[p]))
                sentence_ids[longest] = sentence_ids[longest][:-1]
            ids, mask = [tok.cls_token_id], [False]
            for part in parts:
                piece = sentence_ids[part] if part in sentence_ids else literal_ids[part]
                ids += piece
                mask += [part in sentence_ids] * len(piece)
            ids.append(tok.sep_token_id)
            mask.append(False)
            rows.append(Encoded(np.asarray(ids, dtype=np.int64), None, np.asarray(mask)))
        return rows

    # -- forward ------------------------------------------------------------------------------
    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The word-embedding vectors that adversarial perturbations are added to."""
        return self.encoder.get_input_embeddings()(input_ids)

    def hidden_states(
        self, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None
    ) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(batch["input_ids"])
        out = self.encoder(
            inputs_embeds=inputs_embeds,
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
        )
        return out.last_hidden_state

    def pool(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sentence representation from token states: CLS, masked mean, or the [MASK] state."""
        if self.spec.pooling == "cls":
            return hidden[:, 0]
        if self.spec.pooling == "mask":
            # The template's [MASK], never a "[MASK]" typed inside the user's sentence.
            is_mask = (batch["input_ids"] == self.tokenizer.mask_token_id) & ~batch["perturb_mask"]
            state = hidden[is_mask].view(hidden.size(0), -1, hidden.size(-1))[:, 0]
            return state - self.template_state(batch) if self.spec.denoise else state
        weights = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def template_state(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """[MASK] state of the template without the sentence (PromptBERT's ``get_delta``).

        Each row keeps only the template's tokens ([CLS], literal pieces, [MASK], [SEP]) at the
        positions they have in the filled sequence, so tokens after a sentence of length L are
        shifted by L exactly as in Prompt-BERT; with [Y] the shifts follow both sentences. Rows
        sharing a position pattern are encoded once. Runs in the current mode (dropout and
        gradients as the main pass, like Prompt-BERT's training). Shape (B, H).
        """
        keep = batch["attention_mask"].bool() & ~batch["perturb_mask"]
        rows, width = keep.shape
        kept = int(keep[0].sum())
        positions = torch.arange(width, device=keep.device).expand(rows, width)[keep]
        patterns, inverse = torch.unique(positions.view(rows, kept), dim=0, return_inverse=True)
        template_ids = batch["input_ids"][0][keep[0]].expand(len(patterns), kept)
        hidden = self.encoder(
            input_ids=template_ids,
            position_ids=patterns,
            token_type_ids=torch.zeros_like(template_ids),
        ).last_hidden_state
        is_mask = template_ids == self.tokenizer.mask_token_id
        return hidden[is_mask].view(len(patterns), -1, hidden.size(-1))[:, 0][inverse]

    def represent(
        self, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The pooled sentence representation h(x) used by contrastive losses and the head."""
        return self.pool(self.hidden_states(batch, inputs_embeds), batch)

    def logits_from(self, representation: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(representation))

    def forward(
        self, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.logits_from(self.represent(batch, inputs_embeds))

    @torch.inference_mode()
    def predict_proba(self, examples: Sequence[Example], batch_size: int = 64) -> torch.Tensor:
        """Class probabilities in eval mode, batched with dynamic padding."""
        was_training = self.training
        self.eval()
        chunks = []
        for start in range(0, len(examples), batch_size):
            batch = self.tokenize(examples[start : start + batch_size])
            chunks.append(torch.softmax(self(batch), dim=-1).float().cpu())
        self.train(was_training)
        if not chunks:
            return torch.empty(0, self.spec.num_labels)
        return torch.cat(chunks)
