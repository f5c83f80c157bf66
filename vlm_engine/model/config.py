"""Plain, frozen dataclass configs of the VLM and its parts, saved as JSON.

Design choices:
- One dataclass per component (vision encoder, projector, language model) and one for the whole VLM. The
  component kind is a typed enum field, so builders dispatch on it and never on substrings of a model name.
- Configs are frozen: loading builds new objects and never mutates one (no "fix-ups" while loading).
- `from_dict` is strict: an unknown field, a value of the wrong type or an unknown kind raises, so a typo in
  config.json fails loudly instead of silently falling back to a default.
- A transformers component (a CLIP/SigLIP/DINOv2 tower, a Llama/Qwen2 causal LM) keeps its transformers
  config as a plain dict in `hf_config`; the geometry fields beside it (sizes, layers, heads) must agree with
  that dict, which `from_hf` guarantees and `__post_init__` checks.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Self


class VisionKind(StrEnum):
    VIT = "vit"  # the project's own ViT (vit.py)
    CLIP = "clip"  # transformers CLIPVisionModel
    SIGLIP = "siglip"  # transformers SiglipVisionModel
    DINOV2 = "dinov2"  # transformers Dinov2Model


class PatchStem(StrEnum):
    PATCH = "patch"  # one linear map of each patch (a strided convolution), as ViT
    CONV = "conv"  # stride-2 3x3 convolutions down to the patch grid (overlapping: edges of small shapes)


class ProjectorKind(StrEnum):
    MLP = "mlp"  # LLaVA: 2-layer GELU MLP per patch
    PIXEL_SHUFFLE_MLP = "pixel_shuffle_mlp"  # nanoVLM/InternVL: merge s x s patches, then the MLP
    QFORMER = "qformer"  # BLIP-2: a fixed number of learned queries cross-attend to the patches
    CROSS_ATTN = "cross_attn"  # Flamingo: tanh-gated cross-attention layers inside the language model


class LanguageKind(StrEnum):
    DECODER = "decoder"  # the project's own decoder (decoder.py)
    LLAMA = "llama"  # transformers LlamaForCausalLM
    QWEN2 = "qwen2"  # transformers Qwen2ForCausalLM


HF_VISION_KINDS = frozenset({VisionKind.CLIP, VisionKind.SIGLIP, VisionKind.DINOV2})
HF_LANGUAGE_KINDS = frozenset({LanguageKind.LLAMA, LanguageKind.QWEN2})


class ConfigError(ValueError):
    """A config (or its JSON) is invalid: unknown field, wrong type, unknown kind, inconsistent values."""


def _hf_config_class(kind: StrEnum) -> type:
    import transformers

    names = {
        VisionKind.CLIP: "CLIPVisionConfig",
        VisionKind.SIGLIP: "SiglipVisionConfig",
        VisionKind.DINOV2: "Dinov2Config",
        LanguageKind.LLAMA: "LlamaConfig",
        LanguageKind.QWEN2: "Qwen2Config",
    }
    return getattr(transformers, names[kind])


def hf_config_object(kind: StrEnum, hf_config: dict[str, Any]) -> Any:
    """The transformers config object described by `hf_config` (a fresh object; the dict is not touched)."""
    return _hf_config_class(kind)(**hf_config)


def _hf_dict(hf: Any) -> dict[str, Any]:
    """A transformers config as the JSON-safe dict of its non-default values."""
    data = hf.to_diff_dict()
    data.pop("transformers_version", None)
    data.pop("model_type", None)
    return json.loads(json.dumps(data))


@dataclass(frozen=True)
class VisionConfig:
    kind: VisionKind = VisionKind.VIT
    image_size: int = 64  # the square input the backend resizes every image to (pixels)
    patch_size: int = 8
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0  # ViT only
    stem: PatchStem = PatchStem.PATCH  # ViT only: how pixels become patch features
    feature_layer: int = -1  # -1: last layer (after the final norm); -2: the penultimate (LLaVA), ...
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    hf_config: dict[str, Any] | None = None  # transformers config of a CLIP/SigLIP/DINOv2 tower

    def __post_init__(self) -> None:
        _coerce_kind(self, VisionKind)
        _coerce_kind(self, PatchStem, "stem")
        if self.stem is PatchStem.CONV and (
            self.kind is not VisionKind.VIT or self.patch_size.bit_count() != 1
        ):
            raise ConfigError("a conv stem needs the own ViT and a power-of-two patch size")
        if self.image_size % self.patch_size:
            raise ConfigError(
                f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}"
            )
        if not -self.num_layers <= self.feature_layer <= -1:
            raise ConfigError(f"feature_layer {self.feature_layer} must be in [-num_layers, -1]")
        if self.kind in HF_VISION_KINDS:
            if self.hf_config is None:
                raise ConfigError(f"vision kind {self.kind} needs hf_config")
            hf = hf_config_object(self.kind, self.hf_config)
            _check_agrees(
                self,
                hf,
                image_size="image_size",
                patch_size="patch_size",
                hidden_size="hidden_size",
                num_layers="num_hidden_layers",
                num_heads="num_attention_heads",
            )
        elif self.hf_config is not None:
            raise ConfigError(f"vision kind {self.kind} takes no hf_config")

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of patches at the input size."""
        side = self.image_size // self.patch_size
        return (side, side)

    @classmethod
    def from_hf(cls, kind: VisionKind, hf: Any, **fields: Any) -> Self:
        """A config for a transformers tower, from its config object (e.g. `CLIPVisionConfig(...)` or
        `CLIPVisionConfig.from_pretrained(local_dir)`), with the geometry fields copied from it."""
        return cls(
            kind=VisionKind(kind),
            image_size=hf.image_size,
            patch_size=hf.patch_size,
            hidden_size=hf.hidden_size,
            num_layers=hf.num_hidden_layers,
            num_heads=hf.num_attention_heads,
            hf_config=_hf_dict(hf),
            **fields,
        )


@dataclass(frozen=True)
class ProjectorConfig:
    kind: ProjectorKind = ProjectorKind.MLP
    shuffle_factor: int = 2  # pixel_shuffle_mlp: s x s patches become one token
    num_queries: int = 16  # qformer: visual tokens per image
    num_layers: int = 2  # qformer: query layers
    num_heads: int = 4  # qformer and cross_attn
    cross_attn_every: int = 1  # cross_attn: a gated layer before every k-th language-model block

    def __post_init__(self) -> None:
        _coerce_kind(self, ProjectorKind)
        for name in ("shuffle_factor", "num_queries", "num_layers", "num_heads", "cross_attn_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"projector {name} must be >= 1")


@dataclass(frozen=True)
class LanguageConfig:
    kind: LanguageKind = LanguageKind.DECODER
    vocab_size: int = 2048
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2  # grouped-query attention: num_heads / num_kv_heads queries share a key/value
    intermediate_size: int = 352  # SwiGLU hidden size
    rope_theta: float = 10000.0
    max_position: int = 2048  # the context window (prompt + generated tokens)
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    hf_config: dict[str, Any] | None = None  # transformers config of a Llama/Qwen2 causal LM

    def __post_init__(self) -> None:
        _coerce_kind(self, LanguageKind)
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ConfigError("hidden_size must divide into num_heads, and num_heads into num_kv_heads")
        if (self.hidden_size // self.num_heads) % 2:
            raise ConfigError("the head size must be even for rotary position embeddings")
        if self.kind in HF_LANGUAGE_KINDS:
            if self.hf_config is None:
                raise ConfigError(f"language kind {self.kind} needs hf_config")
            hf = hf_config_object(self.kind, self.hf_config)
            _check_agrees(
                self,
                hf,
                vocab_size="vocab_size",
                hidden_size="hidden_size",
                num_layers="num_hidden_layers",
                num_heads="num_attention_heads",
                num_kv_heads="num_key_value_heads",
            )
        elif self.hf_config is not None:
            raise ConfigError(f"language kind {self.kind} takes no hf_config")

    @classmethod
    def from_hf(cls, kind: LanguageKind, hf: Any, **fields: Any) -> Self:
        """A config for a transformers causal LM, from its config object, geometry copied from it."""
        return cls(
            kind=LanguageKind(kind),
            vocab_size=hf.vocab_size,
            hidden_size=hf.hidden_size,
            num_layers=hf.num_hidden_layers,
            num_heads=hf.num_attention_heads,
            num_kv_heads=hf.num_key_value_heads,
            intermediate_size=hf.intermediate_size,
            max_position=hf.max_position_embeddings,
            tie_embeddings=bool(hf.tie_word_embeddings),
            hf_config=_hf_dict(hf),
            **fields,
        )


@dataclass(frozen=True)
class VLMConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    image_token_id: int = 6  # id of `<image>` in the tokenizer saved beside the weights (checked on load)

    def __post_init__(self) -> None:
        if (
            self.projector.kind is ProjectorKind.QFORMER
            and self.vision.hidden_size % self.projector.num_heads
        ):
            raise ConfigError("the qformer's num_heads must divide the vision hidden_size")
        if (
            self.projector.kind is ProjectorKind.CROSS_ATTN
            and self.language.hidden_size % self.projector.num_heads
        ):
            raise ConfigError("the cross_attn num_heads must divide the language hidden_size")
        if self.projector.kind is ProjectorKind.CROSS_ATTN and self.language.kind in HF_LANGUAGE_KINDS:
            raise ConfigError("the cross_attn projector needs the own decoder (language kind 'decoder')")
        if self.projector.kind is ProjectorKind.PIXEL_SHUFFLE_MLP:
            rows, cols = self.vision.grid
            s = self.projector.shuffle_factor
            if rows % s or cols % s:
                raise ConfigError(f"patch grid {rows}x{cols} is not divisible by shuffle_factor {s}")

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return _from_jsonable(cls, data, "config")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Self:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _coerce_kind(config: Any, kind: type[StrEnum], name: str = "kind") -> None:
    """Accept the enum field `name` as its string value at construction; an unknown value raises."""
    try:
        object.__setattr__(config, name, kind(getattr(config, name)))
    except ValueError:
        raise ConfigError(f"unknown {kind.__name__} {getattr(config, name)!r}") from None


def _check_agrees(config: Any, hf: Any, **pairs: str) -> None:
    for ours, theirs in pairs.items():
        if getattr(config, ours) != getattr(hf, theirs):
            raise ConfigError(
                f"{type(config).__name__}.{ours}={getattr(config, ours)} disagrees with hf_config "
                f"{theirs}={getattr(hf, theirs)} (build it with from_hf)"
            )


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple | list):
        return [_to_jsonable(v) for v in value]
    return value


def _from_jsonable(tp: Any, value: Any, where: str) -> Any:
    """`value` (parsed JSON) as an instance of the annotation `tp`; raises ConfigError on any mismatch."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        (inner,) = [t for t in options if t is not type(None)]
        return _from_jsonable(inner, value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {unknown} for {tp.__name__}")
        kwargs = {k: _from_jsonable(hints[k], v, f"{where}.{k}") for k, v in value.items()}
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        try:
            return tp(value)
        except ValueError:
            raise ConfigError(f"{where}: unknown {tp.__name__} {value!r}") from None
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list) or len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)}, got {value!r}")
        return tuple(
            _from_jsonable(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp in (int, bool, str):
        if type(value) is not tp:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported annotation {tp!r}")
