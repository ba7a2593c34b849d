"""Make this Python behave as if PyTorch were not installed (the light install).

Put this folder first on PYTHONPATH of a subprocess: importing torch, torchvision, timm or
safetensors (the ``[torch]`` extra) then raises ModuleNotFoundError, as it would in a venv
built with ``pip install illustrators-depth``. CI also checks a real venv without torch.
"""

import importlib.abc
import sys

BLOCKED = frozenset({"torch", "torchvision", "timm", "safetensors"})


class _BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _BlockTorch())
