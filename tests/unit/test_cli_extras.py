"""Commands that need the demo extra say so, instead of a traceback, where it is missing."""

from __future__ import annotations

import subprocess
import sys

# Importing a module set to None in sys.modules raises ImportError, as a missing package does.
WITHOUT_CRYPTOGRAPHY = (
    "import sys; sys.modules['cryptography'] = None; "
    "from exoccm.cli import main; raise SystemExit(main(sys.argv[1:]))"
)


def test_demo_without_its_extra_names_the_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_CRYPTOGRAPHY, "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "exoccm demo:" in result.stderr
    assert "pip install 'exoccm[demo]'" in result.stderr
    assert "Traceback" not in result.stderr
