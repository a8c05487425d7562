"""The names of the method registries, for what must answer before torch is imported: `inpaint --help`
lists the methods, and a method name is told apart from a path, in a fraction of a second.

The registries themselves (`inpaint.models.GENERATORS`, `inpaint.start_fills.FILLS`) import torch;
tests/unit/test_methods.py keeps these tuples equal to their keys (and to `inpaint.baselines.BASELINES`').
"""

BASELINE_NAMES = ("telea", "navier_stokes", "biharmonic", "patch_match", "patch_criminisi",
                  "nearest", "pyramid", "hybrid", "patch", "fade")
GENERATOR_NAMES = ("deepfill", "lama", "autoencoder", "vae")
FILL_NAMES = ("nearest", "pyramid", "hybrid", "patch", "fade")  # inpaint.start_fills.FILLS: the generators' start fills
