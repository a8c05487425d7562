"""bench/recipe.py chooses on validation: its checkpoint-picking and scoring photos are the two halves of
BSDS500 val, never BSDS500 test unless asked."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BSDS = ROOT.parent / "shared" / "datasets" / "bsds500"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("bench_recipe", ROOT / "bench" / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not BSDS.is_dir(), reason="needs ../shared/datasets/bsds500")
def test_variants_are_chosen_and_scored_on_disjoint_halves_of_val(recipe):
    choose, score, val, test = (set(recipe.photos(s)) for s in ("val-choose", "val-score", "val", "test"))
    assert choose and score and not choose & score and choose | score == val
    assert not val & test
    _, _, pairs = recipe.scoring_pairs(32, 1, 0)
    scored = {Path(p).stem for p in score}
    assert set(pairs.image_id.astype(str)) <= scored
