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
