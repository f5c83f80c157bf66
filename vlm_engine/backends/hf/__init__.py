"""The hf backend: transformers VLM families (Qwen2-VL, Qwen2.5-VL, LLaVA 1.5 / NeXT / OneVision, Idefics3,
SmolVLM), each adapted by a small `Family` chosen from the checkpoint config's `model_type`.

`backend.HFBackend` is the backend; this package's root imports nothing, so callers that only need the family
table or `families.UnsupportedModelError` do not pay for importing torch and transformers.
"""
