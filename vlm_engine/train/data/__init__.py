"""Seeded generators of images with ground truth, and the tasks asked about them.

Every generator takes a `random.Random` and a `Style` (the palette shades, backgrounds and fonts of a split),
so a sample is a pure function of (seed, split): the held-out split draws shades, textures, fonts and
layouts the training split never shows.
"""

from vlm_engine.train.data.mix import MIXES, Split, generate_samples
from vlm_engine.train.data.things import Picture, Sample, Thing

__all__ = ["MIXES", "Picture", "Sample", "Split", "Thing", "generate_samples"]
