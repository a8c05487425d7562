"""inpaint.stage: a stage script's failure is one line naming the stage, and exit status 2."""
import subprocess
import sys
import textwrap

import pytest

from inpaint.stage import run_stage


def test_a_known_error_is_one_line_and_status_2(capsys):
    def main():
        raise ValueError("params.yaml: split.test is 0; use at least 1")

    with pytest.raises(SystemExit) as e:
        run_stage("split", main)
    assert e.value.code == 2
    assert capsys.readouterr().err == "split: params.yaml: split.test is 0; use at least 1\n"


def test_other_errors_propagate_and_the_errors_are_the_stages_choice():
    class Diverged(RuntimeError):
        pass

    def main():
        raise Diverged("step 3: loss g_total is nan")

    with pytest.raises(Diverged):
        run_stage("train", main)  # not one of the default (ValueError, OSError): a bug shows its traceback
    with pytest.raises(SystemExit) as e:
        run_stage("train", main, (Diverged, ValueError, OSError))
    assert e.value.code == 2


def test_ctrl_c_says_what_is_left_when_the_stage_says_it():
    script = textwrap.dedent("""
        from inpaint.stage import run_stage
        def main():
            raise KeyboardInterrupt
        run_stage("evaluate", main, interrupted="interrupted; reports/ holds the last complete report")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr == "evaluate: interrupted; reports/ holds the last complete report\n"
