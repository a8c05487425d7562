"""inpaint.training.step: one optimisation step (warm-up, losses, adversary schedule, head logs)."""
import pytest
import torch

from inpaint.training import loop as training_loop, step as training_step
from testkit import TRAIN_CFG as CFG


def test_learning_rate_warms_up_linearly_and_resumes_at_the_same_rate(setup):
    def rates(cfg, steps):
        nets = training_step.build_nets(cfg, torch.device("cpu"))
        image, mask = next(training_loop.batches(cfg, setup[0], 0))
        out = []
        for step in steps:  # the rate is a function of the step: a resumed run (step 3 first) gets the same
            training_step.train_step(nets, image, mask, step, cfg)
            out += [nets.opt_g.param_groups[0]["lr"], nets.opt_d.param_groups[0]["lr"]]
        return out

    cfg = {**CFG, "lr_g": 0.4, "lr_d": 0.2, "warmup_steps": 4}
    assert rates(cfg, range(6)) == pytest.approx([0.1, 0.05, 0.2, 0.1, 0.3, 0.15, 0.4, 0.2, 0.4, 0.2, 0.4, 0.2])
    assert rates(cfg, [2]) == pytest.approx([0.3, 0.15])
    assert rates({**cfg, "warmup_steps": 0}, [0]) == pytest.approx([0.4, 0.2])  # no warm-up


def test_the_logs_show_the_head_learning_and_the_fill_changing(setup):
    cfg = {**CFG, "model": "lama", "kwargs": {"width": 8, "n_down": 2, "max_width": 16, "n_blocks": 1},
           "warmup_steps": 1, "loss": {**CFG["loss"], "adv": 0.0}}
    nets = training_step.build_nets(cfg, torch.device("cpu"))
    image, mask = next(training_loop.batches(cfg, setup[0], 0))
    first = training_step.train_step(nets, image, mask, 0, cfg)
    assert first["change_hole"] == 0 and first["head_grad"] > 0  # zero head: the start fill, but it gets a gradient
    for step in range(1, 4):
        logs = training_step.train_step(nets, image, mask, step, cfg)
    assert logs["change_hole"] > 0 and logs["head_grad"] > 0


def test_the_generator_feels_the_adversary_only_from_adv_start(setup):
    cfg = {**CFG, "loss": {**CFG["loss"], "adv_start": 2}}
    nets = training_step.build_nets(cfg, torch.device("cpu"))
    batches = training_loop.batches(cfg, setup[0], 0)
    logs = [training_step.train_step(nets, *next(batches), step, cfg) for step in range(3)]
    assert ["g_adv" in lg for lg in logs] == [False, False, True]
    assert all("d_loss" in lg for lg in logs)  # the discriminator trains throughout
