"""Verify: check each claim on its own evidence before it leaves the agent.

Design choices:
- A claim is a phrase and the box said to show it ("red circle" at [x0, y0, x1, y1], source units). The
  check crops around the box (`grounding.zoom_view`, the box plus `context` of its size on every side, so
  the object is seen whole and large) and asks the backend two things on the crop, in one batch: the
  presence question ("Is there a red circle in the image?") and the grounding question again ("Where is
  the red circle?"). A claim passes when the crop says yes and, under `require_reground`, the box found
  again on the crop overlaps the original (IoU >= `min_iou`): the model must point at the same thing twice,
  from two different views, to be believed.
- What fails is dropped by the callers that answer yes/no or count, and kept but flagged (score 0, label
  "unverified: ...") where the caller was asked for a box anyway.
- Presence answers (`presence`): a "yes" of the whole picture is pointed at (the box is its evidence)
  and, with a policy, only kept when the pointed-at box verifies; a "no" stands (verification only
  removes claims). The agent checks presence this way only when asked (`AgentOptions.verify_presence`):
  measured with the shipped model, the check costs half the recall (0.84 -> 0.40 with views).
- With a `views` policy the whole picture's yes is a majority over several views of it and the claim's box
  is fused over them (`views`); the crop check itself is one look.
- Every verification pass is one trace step: claims in, verdicts out, tokens spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vlm_engine.agent.questions import ask_presence, ask_where, said_yes
from vlm_engine.agent.trace import Trace
from vlm_engine.agent.views import ViewsPolicy, fused_box, voted_yes
from vlm_engine.agent.zoom import Draw
from vlm_engine.backends.base import Backend, GenerationConfig, ImageInput, Prompt
from vlm_engine.grounding import Box, zoom_view

YES_NO = GenerationConfig(max_new_tokens=3)
ONE_BOX = GenerationConfig(max_new_tokens=24)


@dataclass(frozen=True)
class VerifyPolicy:
    context: float = 0.75  # the crop: the box grown by this share of its size on every side
    crop_pixels: float = 48.0  # drawn so the box is this tall (the crop is then about 2.5x that)
    require_reground: bool = True
    min_iou: float = 0.3


DEFAULT_VERIFY = VerifyPolicy()


@dataclass(frozen=True)
class Claim:
    phrase: str
    box: Box  # source units


@dataclass(frozen=True)
class Verdict:
    passed: bool
    crop_said_yes: bool | None
    reground_iou: float | None  # None when the crop was not asked to ground, or found nothing


def verify_claims(
    backend: Backend,
    claims: Sequence[Claim],
    draw: Draw,
    source_size: tuple[float, float],
    trace: Trace,
    policy: VerifyPolicy = DEFAULT_VERIFY,
) -> list[Verdict]:
    if not claims:
        return []
    with trace.step(
        "verify", claims=[c.phrase for c in claims], boxes=[c.box.as_list(1) for c in claims]
    ) as step:
        crops = []
        for claim in claims:
            view = zoom_view(
                claim.box, *source_size, box_pixels=policy.crop_pixels, context=policy.context, min_side=16
            )
            crops.append(ImageInput(draw(view), view))
        asks = [Prompt(ask_presence(c.phrase), images=(crop,)) for c, crop in zip(claims, crops, strict=True)]
        said = backend.generate(asks, YES_NO)
        step.tokens = sum(g.prompt_tokens + g.completion_tokens + g.visual_tokens for g in said)
        ious: list[float | None] = [None] * len(claims)
        if policy.require_reground:
            wheres = [
                Prompt(ask_where(c.phrase), images=(crop,)) for c, crop in zip(claims, crops, strict=True)
            ]
            found = backend.generate(wheres, ONE_BOX)
            step.tokens += sum(g.prompt_tokens + g.completion_tokens + g.visual_tokens for g in found)
            ious = [
                max((b.box.iou(c.box) for b in g.boxes), default=0.0)
                for c, g in zip(claims, found, strict=True)
            ]
        verdicts = []
        for generation, iou in zip(said, ious, strict=True):
            yes = said_yes(generation.text)
            passed = bool(yes) and (
                not policy.require_reground or (iou is not None and iou >= policy.min_iou)
            )
            verdicts.append(Verdict(passed, yes, iou))
        step.outputs.update(
            passed=[v.passed for v in verdicts],
            crop_yes=[v.crop_said_yes for v in verdicts],
            reground_iou=[None if v.reground_iou is None else round(v.reground_iou, 3) for v in verdicts],
        )
    return verdicts


@dataclass(frozen=True)
class PresenceAnswer:
    yes: bool
    said_yes: bool  # what the whole picture's answer was, before verification
    box: Box | None  # where the object was pointed at (source units), when it was
    verdict: Verdict | None


def presence(
    backend: Backend,
    image: ImageInput,
    phrases: Sequence[str],
    draw: Draw,
    source_size: tuple[float, float],
    trace: Trace,
    policy: VerifyPolicy | None = DEFAULT_VERIFY,
    views: ViewsPolicy | None = None,
) -> list[PresenceAnswer]:
    """Is each phrase in the image? Batched over phrases (and, with `views`, asked on every view of the
    image, a majority deciding). Every "yes" is pointed at (its box is the evidence); with a policy it is
    also checked: the pointed-at box must verify, or the answer is "no"."""
    with trace.step("ask_presence", phrases=list(phrases)) as step:
        votes, step.tokens = voted_yes(backend, image, [ask_presence(p) for p in phrases], YES_NO, views)
        yes = [v.yes for v in votes]
        if views is not None:
            step.outputs["votes"] = [f"{v.votes}/{v.views}" for v in votes]
        step.outputs["yes"] = yes
    asked = [i for i, y in enumerate(yes) if y]
    if not asked:
        return [PresenceAnswer(False, False, None, None) for _ in phrases]
    with trace.step("ground_claims", phrases=[phrases[i] for i in asked]) as step:
        fused = {i: fused_box(backend, image, ask_where(phrases[i]), ONE_BOX, views) for i in asked}
        step.tokens = sum(f.tokens for f in fused.values())
        boxes = {i: f.box for i, f in fused.items()}
        step.outputs["boxes"] = [None if b is None else b.as_list(1) for b in boxes.values()]
    if policy is None:
        return [PresenceAnswer(y, y, boxes.get(i), None) for i, y in enumerate(yes)]
    checkable = [i for i in asked if boxes[i] is not None and boxes[i].area > 0]
    verdicts = dict(
        zip(
            checkable,
            verify_claims(
                backend, [Claim(phrases[i], boxes[i]) for i in checkable], draw, source_size, trace, policy
            ),
            strict=True,
        )
    )
    return [
        PresenceAnswer(
            yes=i in verdicts and verdicts[i].passed,
            said_yes=yes[i],
            box=boxes.get(i),
            verdict=verdicts.get(i),
        )
        for i in range(len(phrases))
    ]
