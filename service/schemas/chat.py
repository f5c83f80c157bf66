"""OpenAI-compatible chat completion bodies (the subset Sightline serves), plus its evidence.

Design choices:
- A request names its file in the last user message as an `image_url` part: a `data:` URL (the bytes
  inline, as OpenAI clients send images) or `sightline://documents/<id>` (a file uploaded before, which is
  how a PDF or a video is asked about). The text parts are the question.
- The response is a standard `chat.completion`; the grounding rides along in an extra `sightline` object
  (job ID, evidence boxes), which OpenAI clients ignore.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.jobs import EvidenceOut


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    url: str = Field(
        examples=["data:image/png;base64,iVBORw0KGgo...", "sightline://documents/doc_0192f3a4..."]
    )


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str | list[ContentPart]


class ChatRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",  # temperature, max_tokens, ... are accepted and have no effect
        json_schema_extra={
            "examples": [
                {
                    "model": "sightline",
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": "What is the total due?"},
                                {
                                    "type": "image_url",
                                    "image_url": {"url": "sightline://documents/doc_0192f3a4b5c6"},
                                },
                            ],
                        }
                    ],
                }
            ]
        },
    )

    model: str = "sightline"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: Literal[False] = Field(False, description="Streaming is not supported")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Grounding(BaseModel):
    job_id: str
    document_id: str
    evidence: list[EvidenceOut]
    usage: dict[str, Any]


class ChatResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: ChatUsage
    sightline: Grounding
