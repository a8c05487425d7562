"""inpaint.training.terms: the loss terms a model adds (a coarse stage, a prior's samples and KL)."""
import numpy as np
import pytest
import torch

from inpaint.checkpoints import generator_from_checkpoint
from inpaint.training import loop as training_loop, step as training_step
from inpaint.training.terms import MODEL_TERMS
from testkit import TRAIN_CFG as CFG
from testkit import train_run as _run


def test_the_diversity_loss_makes_a_vaes_samples_differ(setup, tmp_path):
    from inpaint.evaluation import diverse_samples

    paths, images, masks = setup
    cfg = {**CFG, "model": "vae", "kwargs": {"width": 8, "n_down": 2, "max_width": 16, "latent_channels": 4, "n_mid": 1},
           "max_steps": 40, "val_every": 40, "ckpt_every": 40, "log_every": 10, "lr_g": 3e-3,
           "loss": {**CFG["loss"], "adv": 0.0, "kl": 0.01, "diversity": 1.0, "diversity_margin": 0.05}}
    spreads = {}
    for weight in (0.0, 1.0):
        run = tmp_path / f"w{weight}"
        _run({**cfg, "loss": {**cfg["loss"], "diversity": weight}}, setup, run)
        model, _ = generator_from_checkpoint(run / "last.pt")
        fills = diverse_samples(model, images, masks, 2, seed=0)  # (N, 2, S, S, 3)
        spreads[weight] = float(np.abs(fills[:, 0] - fills[:, 1]).sum() / (3 * masks.sum()))
    assert spreads[1.0] > 0.02 and spreads[1.0] > 3 * spreads[0.0]
    log = (tmp_path / "w1.0/logs/log.csv").read_text()
    assert "sample_spread" in log.splitlines()[0]


def test_each_model_adds_its_own_terms_after_the_common_ones(setup):
    """deepfill's coarse stage and the vae's prior terms come from the registry; a model without an entry
    gets only the common content, perceptual and adversarial terms."""
    kwargs = {"deepfill": {"width": 4, "n_down": 2, "max_width": 8, "dilations": [2], "attention_rate": 2},
              "vae": {"width": 8, "n_down": 2, "max_width": 16, "latent_channels": 2, "n_mid": 1},
              "autoencoder": CFG["kwargs"]}
    loss = {**CFG["loss"], "kl": 0.01, "diversity": 1.0, "diversity_margin": 0.05, "diversity_pool": 2}
    seen = {}
    for model, kw in kwargs.items():
        cfg = {**CFG, "model": model, "kwargs": kw, "loss": loss}
        nets = training_step.build_nets(cfg, torch.device("cpu"))
        image, mask = next(training_loop.batches(cfg, setup[0], 0))
        seen[model] = training_step.train_step(nets, image, mask, 0, cfg)
    common = {"l1_hole", "g_adv", "g_total", "d_loss"}
    assert all(common <= set(logs) for logs in seen.values())
    assert "coarse_l1_hole" not in seen["autoencoder"] and "kl" not in seen["deepfill"]
    order = list(seen["deepfill"])  # the coarse stage right after the content loss, before the adversary
    assert order.index("l1_hole") < order.index("coarse_l1_hole") < order.index("g_adv")
    order = list(seen["vae"])  # the prior's terms after the adversary
    assert order.index("g_adv") < order.index("sample_spread") < order.index("kl")
    assert sorted(MODEL_TERMS) == ["deepfill", "vae"]


def test_the_lattice_term_is_added_only_when_weighted(setup):
    """loss.lattice (default 0) adds losses.lattice_loss of the prediction, weighted, to the generator's total."""
    seen = {}
    for weight in (0.0, 0.5):
        cfg = {**CFG, "loss": {**CFG["loss"], "lattice": weight}}
        nets = training_step.build_nets(cfg, torch.device("cpu"))
        image, mask = next(training_loop.batches(cfg, setup[0], 0))
        out = nets.gen(image * (1 - mask), mask)
        seen[weight] = training_step.generator_losses(out, image, mask, cfg, nets.features, nets.disc)
    assert "lattice" not in seen[0.0][1] and seen[0.5][1]["lattice"] > 0
    assert seen[0.5][0].item() == pytest.approx(seen[0.0][0].item() + 0.5 * seen[0.5][1]["lattice"], rel=1e-4)
