"""Console-script entry points of ``decompose-train`` and ``decompose-eval``.

Training needs PyTorch (the ``[train]`` extra); the light install (``pip install
illustrators-depth``) has none. Without it both commands stop with one line naming the extra
and exit code 2, instead of an ImportError traceback. Nothing here imports torch.
"""

from __future__ import annotations

import importlib.util
import sys

TRAIN_EXTRA = "pip install 'illustrators-depth[train]'"
EXIT_USAGE = 2


def missing_training_packages() -> list[str]:
    """The training packages that are not installed (empty when training can run)."""
    missing = []
    for name in ("torch", "torchvision", "timm"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def _require_training(command: str) -> None:
    missing = missing_training_packages()
    if missing:
        print(
            f"{command}: needs {', '.join(missing)} (not installed); install the training "
            f"extra: {TRAIN_EXTRA}",
            file=sys.stderr,
        )
        sys.exit(EXIT_USAGE)


def train_main() -> None:
    """``decompose-train``."""
    _require_training("decompose-train")
    from training.cli import main

    main()


def eval_main() -> None:
    """``decompose-eval``."""
    _require_training("decompose-eval")
    from training.evaluate_cli import main

    main()
