"""The chat turn a `Prompt` becomes, shared by the backends that speak to chat models (hf, openai).

Design choices:
- One system message (the prompt's own system text, then the box instruction) and one user message with the
  images first and the text after them: the order every supported family was trained on.
- Only the GENERIC dialect is taught in the prompt (`box_instruction`): it is the one for models with no box
  format of their own (LLaVA, Idefics3); a model asked for its native dialect (Qwen-VL's, ...) needs no lesson.
- Contents are plain dicts in the shape both transformers chat templates and the OpenAI API read; each backend
  fills an image part its own way (a placeholder for a local processor, a data URL for a server).
"""

from __future__ import annotations

from collections.abc import Callable

from vlm_engine.backends.base import ImageInput, Prompt
from vlm_engine.grounding import BoxDialect

BOX_INSTRUCTIONS = {
    BoxDialect.GENERIC: (
        "When you refer to a region of an image, give its bounding box as <box>x0,y0,x1,y1</box>: integers "
        "from 0 to 1000 relative to the image width (x) and height (y), with the origin at the top-left."
    ),
}


def box_instruction(dialect: BoxDialect) -> str | None:
    """The sentence that teaches `dialect`, or None for a model family's native dialect."""
    return BOX_INSTRUCTIONS.get(BoxDialect(dialect))


def chat_messages(
    prompt: Prompt, image_part: Callable[[ImageInput], dict], instruction: str | None, text: str | None = None
) -> list[dict]:
    """The messages of one prompt; `text` overrides the prompt's text (a backend may have sanitised it)."""
    system = "\n\n".join(part for part in (prompt.system, instruction) if part)
    messages = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    content = [image_part(image) for image in prompt.images]
    content.append({"type": "text", "text": prompt.text if text is None else text})
    messages.append({"role": "user", "content": content})
    return messages
