"""The VLM's tokenizer: byte-level BPE trained locally with the `tokenizers` library, plus special tokens.

Design choices:
- Byte-level BPE never meets an unknown character, and trains in well under a second on text the project
  generates itself (`synthetic_corpus`), so building a tokenizer downloads nothing. It is saved as one
  `tokenizer.json` next to the weights.
- Special tokens have fixed ids at the front of the vocabulary: control tokens, the `<image>` placeholder
  and image/tile markers, then the grounding vocabulary of the Sightline box dialect (`<ref>`, `</ref>`,
  `<box>`, `</box>`, `<loc_0>` .. `<loc_999>`, one token per bin as in Florence-2 / Kosmos-2).
- "Structural" tokens (bos/eos/pad, turn and image markers) are never taken from user text and never
  generated: text is untrusted, and a forged `<image>` would misalign the visual tokens.
- The prompt template lives here too (`encode_prompt`, `encode_example`), so training and inference build
  the very same token sequence.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from vlm_engine.grounding import FLORENCE2_BINS

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
SYSTEM, USER, ASSISTANT = "<|system|>", "<|user|>", "<|assistant|>"
IMAGE, IMAGE_START, IMAGE_END = "<image>", "<img>", "</img>"
GLOBAL_IMAGE = "<global_img>"  # before a tiled image's thumbnail
MAX_TILE_GRID = 6
TILE_MARKERS = tuple(
    f"<tile_{r}_{c}>" for r in range(1, MAX_TILE_GRID + 1) for c in range(1, MAX_TILE_GRID + 1)
)
REF, REF_END, BOX, BOX_END = "<ref>", "</ref>", "<box>", "</box>"
LOC_TOKENS = tuple(f"<loc_{i}>" for i in range(FLORENCE2_BINS))

STRUCTURAL = (
    BOS,
    EOS,
    PAD,
    SYSTEM,
    USER,
    ASSISTANT,
    IMAGE,
    IMAGE_START,
    IMAGE_END,
    GLOBAL_IMAGE,
    *TILE_MARKERS,
)
SPECIAL_TOKENS = (*STRUCTURAL, REF, REF_END, BOX, BOX_END, *LOC_TOKENS)
IGNORE_INDEX = -100  # label of positions that carry no loss


class SightlineTokenizer:
    """A `tokenizers.Tokenizer` with the special tokens' ids at hand."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise ValueError(
                f"tokenizer lacks special tokens {missing[:5]}{'...' if len(missing) > 5 else ''}"
            )
        self.tokenizer = tokenizer
        self.ids = {t: vocab[t] for t in SPECIAL_TOKENS}
        self.bos_id, self.eos_id, self.pad_id = self.ids[BOS], self.ids[EOS], self.ids[PAD]
        self.image_id = self.ids[IMAGE]
        self.box_id, self.box_end_id = self.ids[BOX], self.ids[BOX_END]
        self.loc_ids = tuple(self.ids[t] for t in LOC_TOKENS)
        self.structural_ids = frozenset(self.ids[t] for t in STRUCTURAL)

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @classmethod
    def from_file(cls, path: str | Path) -> SightlineTokenizer:
        return cls(Tokenizer.from_file(str(path)))

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    def encode(self, text: str) -> list[int]:
        """Token ids of untrusted text; structural special tokens written in it are dropped."""
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        return [i for i in ids if i not in self.structural_ids]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ids, grounding tokens kept verbatim, bos/eos/pad dropped."""
        drop = (self.bos_id, self.eos_id, self.pad_id)
        return self.tokenizer.decode([i for i in ids if i not in drop], skip_special_tokens=False)


def train_tokenizer(corpus: Iterable[str], bpe_vocab_size: int = 1024) -> SightlineTokenizer:
    """Byte-level BPE with `bpe_vocab_size` byte and merge tokens, after the special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=len(SPECIAL_TOKENS) + bpe_vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer)
    return SightlineTokenizer(tokenizer)


def synthetic_corpus(lines: int = 4000, seed: int = 0) -> list[str]:
    """Questions and answers about documents, charts, shapes and videos, generated from templates."""
    rng = random.Random(seed)
    things = (
        "square circle triangle star table chart figure title heading paragraph word line cell row column"
    )
    colours = "red green blue yellow black white orange purple grey pink brown cyan"
    nouns = "page document invoice receipt report slide form frame video scene person car total date name"
    verbs = "is are shows contains reads says has lists marks"
    templates = [
        "Where is the {c} {t}?",
        "How many {t}s are on the {n}?",
        "What {v} the {t} in the {n}?",
        "Find the {c} {t} and give its box.",
        "The {n} {v} {k} {t}s.",
        "Answer: {k}. The {t} is {c}.",
        "Describe the {n} in one sentence.",
        "What is the {t} at the top of the {n}?",
        "Read the {t} of the {n}: {k}.{k} on {k}/{k}/20{k}",
        "Is there a {c} {t} in this {n}? Yes. No.",
    ]
    out = []
    for _ in range(lines):
        template = rng.choice(templates)
        out.append(
            template.format(
                t=rng.choice(things.split()),
                c=rng.choice(colours.split()),
                n=rng.choice(nouns.split()),
                v=rng.choice(verbs.split()),
                k=rng.randint(0, 99),
            )
        )
    return out


def build_tokenizer(bpe_vocab_size: int = 1024) -> SightlineTokenizer:
    """The default tokenizer: BPE trained on `synthetic_corpus()`. Deterministic, offline."""
    return train_tokenizer(synthetic_corpus(), bpe_vocab_size)


def encode_prompt(
    tokenizer: SightlineTokenizer, text: str, image_tokens: Sequence[int], system: str | None = None
) -> list[int]:
    """`<|bos|>[<|system|>system]<|user|>text(<img><image>*n</img>)*<|assistant|>` as ids.

    `image_tokens[i]` is how many `<image>` placeholders image i takes in the context (0 when the model
    reads images through cross-attention: the markers alone say where the image stands). The question
    comes before the images: in a causal decoder the visual tokens then read the question, so each one
    can mark whether it holds what is asked about (instruction-aware visual tokens, as in InstructBLIP's
    Q-Former), which a small model trained from scratch learns far sooner than a search from the answer.
    """
    ids = [tokenizer.bos_id]
    if system:
        ids += [tokenizer.ids[SYSTEM], *tokenizer.encode(system)]
    ids += [tokenizer.ids[USER], *tokenizer.encode(text)]
    for count in image_tokens:
        ids += [tokenizer.ids[IMAGE_START], *([tokenizer.image_id] * count), tokenizer.ids[IMAGE_END]]
    return [*ids, tokenizer.ids[ASSISTANT]]


def encode_example(
    tokenizer: SightlineTokenizer,
    text: str,
    image_tokens: Sequence[int],
    answer: str,
    system: str | None = None,
) -> tuple[list[int], list[int]]:
    """(ids, labels) of a training example: the loss falls on the answer and its closing eos only."""
    prompt = encode_prompt(tokenizer, text, image_tokens, system)
    target = [*tokenizer.encode(answer), tokenizer.eos_id]
    return [*prompt, *target], [IGNORE_INDEX] * len(prompt) + target
