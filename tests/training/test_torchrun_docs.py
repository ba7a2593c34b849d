"""docs/SCALING.md's two-node torchrun command parses with torchrun and names real fit options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from torch.distributed.run import get_args_parser

from training.fit_cli import fit

DOC = Path(__file__).resolve().parents[2] / "docs" / "SCALING.md"


def torchrun_command() -> list[str]:
    section = DOC.read_text().split("## Training on several machines", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    lines = [line for line in block.group(1).splitlines() if not line.startswith("#")]
    return shlex.split(" ".join(line.rstrip("\\") for line in lines))


def test_the_documented_torchrun_command_is_valid() -> None:
    words = torchrun_command()
    assert words[0] == "torchrun"
    args = get_args_parser().parse_args(words[1:])
    assert args.nnodes == "2" and args.nproc_per_node == "8" and args.module
    assert args.training_script == "training.fit_cli"
    names = {opt for param in fit.params for opt in getattr(param, "opts", [])}
    given = [word for word in args.training_script_args if word.startswith("--")]
    assert given and set(given) <= names, set(given) - names
