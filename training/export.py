"""Export a trained model folder for shipping: fp16 storage, provenance kept, and the same
network as ONNX for the torch-free runtime (`model.onnx_export`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from model import from_pretrained, save_pretrained
from model.checkpoint import read_config
from model.files import ONNX_NAME
from model.onnx_export import export_folder_onnx

STORAGE_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def export_model(
    source: Path, destination: Path, *, dtype: str = "fp16", onnx: bool = False
) -> Path:
    """Copy the model in `source` (a `save_pretrained` folder) to `destination`, weights stored
    as `dtype` ("fp16" | "bf16" | "fp32"). Inference always runs the weights in fp32 on CPU;
    fp16 storage halves the file. The source's training metadata is kept and an `export` entry
    (storage dtype, source folder, SHA-256 of the source weights) is added. `onnx`: also write
    `destination/model.onnx` from the exported weights (else a stale one there is removed, so
    the folder never holds an ONNX model of other weights). Returns destination.
    """
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(STORAGE_DTYPES)}, got {dtype!r}")
    source = Path(source)
    net = from_pretrained(source)
    _, metadata = read_config(source)
    weights = source / "model.safetensors" if source.is_dir() else source
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    metadata["export"] = {"storage_dtype": dtype, "source": source.name, "source_sha256": digest}
    out = save_pretrained(net.to(STORAGE_DTYPES[dtype]), destination, metadata=metadata)
    if onnx:
        export_onnx_file(out, storage="fp32" if dtype == "fp32" else "fp16")
    else:
        (out / ONNX_NAME).unlink(missing_ok=True)
    return out


def export_onnx_file(folder: Path, *, storage: str = "fp16") -> Path:
    """(Re)write `folder/model.onnx` from the folder's safetensors weights; returns its path.
    Reproducible: the same weights give the same network (checked against torch on export)."""
    return export_folder_onnx(folder, storage=storage)
