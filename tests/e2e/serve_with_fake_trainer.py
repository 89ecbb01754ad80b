"""`python tests/e2e/serve_with_fake_trainer.py run app.py ...`: the app, with training runs started by
tests/fake_trainer.py (a blink per step) instead of the real trainer. Only for browser tests."""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.web import cli

from curation.finetune import runner

FAKE_TRAINER = Path(__file__).resolve().parents[1] / "fake_trainer.py"

if __name__ == "__main__":
    runner.trainer_command = lambda run_dir: [sys.executable, str(FAKE_TRAINER), str(run_dir)]
    sys.exit(cli.main())
