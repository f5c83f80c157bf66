"""Training of Sightline's own VLM: synthetic data with ground truth, the staged recipe, checkpoints.

data/      seeded generators of scenes, charts, documents and videos, and the tasks asked about them
recipe.py  model geometry and per-stage settings (the tiny CPU recipe; a real-size one from transformers parts)
losses.py  soft location-token cross-entropy, dense auxiliary losses, contrastive loss, DPO
batches.py samples -> padded tensors
loop.py    a resumable optimisation loop with a progress line (loss, tokens/s, ETA)
stages.py  stage 0 (pretraining from scratch), 1 (alignment), 2 (instruction tuning), 3 (DPO)
lineage.py the shipped model's chain of train-CLI passes, replayed by one command
"""
