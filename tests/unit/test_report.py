"""inpaint.report: what the headline says was scored."""


import pandas as pd

from inpaint import summary
from testkit import score_frame as _frame



def test_headline_metrics_are_few_and_say_what_was_scored(tmp_path):
    from inpaint.report import test_set_info

    df = _frame([(m, f"i{i}", "m0", "box", r, "30-40" if r >= 0.3 else "10-20", metric, v + (m == "b"))
                 for m in ("a", "b") for i, r in enumerate((0.1, 0.35, 0.5))
                 for metric, v in (("lpips", 0.1 * (i + 1)), ("psnr", 20.0 + i), ("ssim", 0.5), ("hole_l1", 0.2))])
    pairs_file = tmp_path / "test_pairs.csv"
    pairs_file.write_text("pair_id,image_id\n0,i0\n1,i1\n2,i2\n")
    pairs = pd.read_csv(pairs_file)
    info = test_set_info(pairs, pairs_file, 128)
    head = summary.headline_json(df, info)
    assert head["test_set"] == {"pairs": 3, "photos": 3, "image_size": 128, "fingerprint": info["fingerprint"]}
    assert head["a"] == {"lpips": 0.2, "lpips_30": 0.25, "psnr": 21.0, "psnr_30": 21.5, "ssim": 0.5, "ssim_30": 0.5}
    assert head["b"]["lpips"] == 1.2 and "hole_l1" not in head["b"]  # the breakdown has the rest
    assert test_set_info(pairs, pairs_file, 64)["fingerprint"] != info["fingerprint"]  # another crop size
    pairs_file.write_text("pair_id,image_id\n0,i0\n1,i1\n2,i3\n")
    assert test_set_info(pairs, pairs_file, 128)["fingerprint"] != info["fingerprint"]  # other pairs


def _results(methods):
    from inpaint.evaluation import Results

    per_image = _frame([(m.name, f"i{i}", f"m{i}", "box", 0.35, "30-40", "lpips", 0.1) for m in methods
                        for i in range(2)])
    return Results(per_image, {m.name: None for m in methods}, methods)


def test_the_report_puts_each_model_beside_its_checkpoint_and_start_fill():
    from inpaint.evaluation import Scored
    from inpaint.report import report_order

    methods = [Scored("lama", True, "hybrid", "pretrained/lama"), Scored("vae", True, "hybrid", "pretrained/lama"),
               Scored("telea"), Scored("hybrid"), Scored("pretrained/lama", True, "hybrid")]
    ordered = report_order(_results(methods))
    names = ["pretrained/lama", "lama", "vae", "hybrid", "telea"]
    assert [m.name for m in ordered.methods] == names
    assert list(pd.unique(ordered.per_image.method)) == names  # the tables follow the per-image order


def test_a_model_without_its_start_fill_or_checkpoint_is_refused_naming_the_key():
    import pytest

    from inpaint.evaluation import Scored
    from inpaint.report import report_order

    with pytest.raises(ValueError, match=r"evaluate.baselines lacks hybrid, the fill lama starts from; add it"):
        report_order(_results([Scored("lama", True, "hybrid"), Scored("telea")]))
    with pytest.raises(ValueError, match=r"evaluate.pretrained lacks lama, the checkpoint vae was fine-tuned from"):
        report_order(_results([Scored("vae", True, "hybrid", "pretrained/lama"), Scored("hybrid")]))


def test_the_verdict_names_the_best_and_what_the_test_set_cannot_tell_apart_from_it():
    from inpaint import stats
    from inpaint.report import verdict

    rows = []
    for i in range(12):  # a beats c on every photo; b is a's equal up to noise that changes sign by photo
        for m, v in (("a", 0.10), ("b", 0.10 + (0.01 if i % 2 else -0.009)), ("c", 0.30)):
            rows.append((m, f"p{i}", "m0", "box", 0.35, "30-40", "lpips", v))
    df = _frame(rows)
    text = verdict(df, stats.aggregate(df, n_boot=200), n_boot=200, seed=0)
    assert text.startswith("**Verdict:** by mean lpips over every test pair, **a** is best (0.1000).")
    assert "do not tell it apart from: b +0.0005 [" in text and "c " not in text.split("apart from:")[1]
    resolved = _frame([r for r in rows if r[0] != "b"])
    assert "Every other method is worse, resolved by these 12 test photos" in verdict(
        resolved, stats.aggregate(resolved, n_boot=200), n_boot=200, seed=0)
