"""What every stage script does around its main(): bad input or a failed run is one line naming the stage,
and exit status 2, as the inpaint command reports an error."""
from __future__ import annotations

import sys
from collections.abc import Callable

from inpaint.io import error_text


def run_stage(name: str, main: Callable[[], None], errors: tuple[type[BaseException], ...] = (ValueError, OSError),
              interrupted: str | None = None) -> None:
    """Run a stage's main(); one of `errors` becomes `<name>: <message>` on stderr and status 2. Ctrl+C says
    `interrupted` (what is left and how to go on) when given, else it stops as Python does."""
    try:
        main()
    except errors as e:
        print(f"{name}: {error_text(e)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        if interrupted is None:
            raise
        sys.exit(f"{name}: {interrupted}")
