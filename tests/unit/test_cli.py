"""inpaint.cli: the inpaint command's parsing: version, help with the methods, usage errors in one line (the commands themselves: test_fill, test_score, test_serve, test_export)."""
import pytest

from inpaint.cli import main
from testkit import one_line_error as _one_line_error


def test_version_and_help_list_the_methods(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"inpaint {version('inpaint')}"
    with pytest.raises(SystemExit) as e:
        main(["fill", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for name in ("telea", "patch_match", "hybrid", "pretrained/lama", "deepfill", "--quality", "--overwrite"):
        assert name in out, name


@pytest.mark.parametrize("argv,needle", [
    (["fill", "--method", "telea", "--image", "p.png", "--mask", "m.png", "--out", "o.jpg", "--quality", "0"],
     "argument --quality: 0 must be between 1 and 100"),
    (["fill", "--method", "telea", "--image", "p.png", "--mask", "m.png"], "required: --out"),
    (["fill", "--method", "telea", "--image", "p.png", "--mask", "m.png", "--out", "o", "--format", "tif"],
     "argument --format: invalid choice"),
])
def test_usage_errors_are_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    _one_line_error(capsys, needle, "inpaint fill --help")
