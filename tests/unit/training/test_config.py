"""inpaint.training.config: a model's config from params.yaml's train section, and -S overrides."""
import pytest

from inpaint.training import config as training_config
from testkit import TRAIN_CFG as CFG


def test_model_config_merges_the_models_section_and_names_a_bad_best_metric():
    params = {"base": {"image_size": 32, "seed": 3},
              "train": {"common": {**{k: v for k, v in CFG.items() if k not in ("model", "kwargs", "image_size", "seed",
                                                                                 "best_higher")},
                                   "val_metrics": ["hole_l1"]},
                        "lama": {"loss": {"adv": 0.5}, "max_steps": 9}}}
    cfg = training_config.model_config(params, "lama")
    assert cfg["model"] == "lama" and cfg["kwargs"] == {} and cfg["max_steps"] == 9 and cfg["seed"] == 3
    assert cfg["loss"]["adv"] == 0.5 and cfg["loss"]["l1_hole"] == CFG["loss"]["l1_hole"]  # merged key by key
    assert cfg["best_higher"] is False  # hole_l1: lower is better
    params["train"]["common"]["best_metric"] = "fid"
    with pytest.raises(ValueError, match=r"train.common.best_metric.*'fid'.*hole_l1.*lpips.*psnr"):
        training_config.model_config(params, "lama")
    params["train"]["common"].update(best_metric="psnr", val_metrics=["lpips"])
    with pytest.raises(ValueError, match=r"'psnr' is not among train.common.val_metrics \['lpips'\]"):
        training_config.model_config(params, "lama")


@pytest.mark.parametrize("size", [20, 8, "64"])
def test_a_bad_curriculum_size_names_its_key(size):
    params = {"base": {"image_size": 64, "seed": 0},
              "train": {"common": {**{k: v for k, v in CFG.items() if k not in ("model", "image_size", "seed")},
                                   "val_metrics": ["hole_l1"], "curriculum": {"size": size, "steps": 5}}}}
    with pytest.raises(ValueError, match=r"train\.common\.curriculum\.size"):
        training_config.model_config(params, "autoencoder")
    params["train"]["common"]["curriculum"]["steps"] = 0  # off: the size is not used
    assert training_config.model_config(params, "autoencoder")["curriculum"]["steps"] == 0


def test_set_param_overrides_known_keys_and_names_unknown_ones():
    params = {"train": {"common": {"lr_g": 0.001}, "lama": {}}}
    training_config.set_param(params, "train.common.lr_g=0.0002")
    assert params["train"]["common"]["lr_g"] == 0.0002
    with pytest.raises(ValueError, match=r"train\.lama\.loss is not a key of params\.yaml"):
        training_config.set_param(params, "train.lama.loss={adv: 0}")
    training_config.set_param(params, "train.lama.loss={adv: 0}", new_keys_under=("train",))
    assert params["train"]["lama"]["loss"] == {"adv": 0}
    with pytest.raises(ValueError, match="use key=value"):
        training_config.set_param(params, "train.common.lr_g")


def test_a_fine_tune_takes_its_rates_from_fine_tune_and_its_architecture_from_the_checkpoint():
    common = {**{k: v for k, v in CFG.items() if k not in ("model", "kwargs", "image_size", "seed", "best_higher")},
              "val_metrics": ["hole_l1"], "fine_tune": {"lr_g": 2e-4, "lr_d": 1e-4}}
    params = {"base": {"image_size": 32, "seed": 0},
              "train": {"common": common, "lama": {"init_from": "pretrained/lama"},
                        "vae": {"init_from": "pretrained/lama", "kwargs": {"decoder": "lama", "latent_pool": 2}},
                        "autoencoder": {"kwargs": {"width": 8}}}}
    shipped = {"pretrained": "alexnet", "upsample": "transposed"}  # pretrained/lama's, from its file
    lama = training_config.model_config(params, "lama")
    assert lama["kwargs"] == shipped and (lama["lr_g"], lama["lr_d"]) == (2e-4, 1e-4) and "fine_tune" not in lama
    vae = training_config.model_config(params, "vae")
    assert vae["kwargs"] == {"decoder": "lama", "latent_pool": 2, "backbone": shipped}
    scratch = training_config.model_config(params, "autoencoder")  # no init_from: train.common's rates
    assert scratch["kwargs"] == {"width": 8} and (scratch["lr_g"], scratch["lr_d"]) == (CFG["lr_g"], CFG["lr_d"])
    params["train"]["lama"]["lr_g"] = 5e-4  # a model's own rate wins over fine_tune
    assert training_config.model_config(params, "lama")["lr_g"] == 5e-4
    params["train"]["lama"]["kwargs"] = {"pretrained": "none"}  # a given kwarg is kept; the start then refuses it
    assert training_config.model_config(params, "lama")["kwargs"] == {**shipped, "pretrained": "none"}


def test_a_fine_tune_of_a_training_checkpoint_takes_the_rest_of_its_architecture_from_it(tmp_path):
    from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
    from inpaint.models import build_generator

    kwargs = {"decoder": "lama", "latent_pool": 1, "latent_channels": 2,
              "backbone": {"width": 8, "n_down": 2, "max_width": 16, "n_blocks": 1}}
    save_checkpoint(tmp_path / "vae.pt", {"format": CHECKPOINT_FORMAT, "arch": "vae", "kwargs": kwargs,
                                          "state": build_generator("vae", **kwargs).state_dict()})
    common = {**{k: v for k, v in CFG.items() if k not in ("model", "kwargs", "image_size", "seed", "best_higher")},
              "val_metrics": ["hole_l1"], "fine_tune": {"lr_g": 2e-4, "lr_d": 1e-4}}
    params = {"base": {"image_size": 32, "seed": 0},
              "train": {"common": common, "vae": {"init_from": str(tmp_path / "vae.pt"),
                                                 "kwargs": {"decoder": "lama", "latent_channels": 2}}}}
    assert training_config.model_config(params, "vae")["kwargs"] == kwargs
