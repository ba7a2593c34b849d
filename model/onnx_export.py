"""Export a trained network to ONNX for the torch-free runtime (needs torch and onnx).

The ONNX graph is the network's ``forward`` at its working size S: input ``image`` float32
(B, 3, S, S) normalised with the config's mean/std, output ``index`` float32 (B, 1, S, S),
higher = front. B is fixed (1 by default; the runtime feeds images one by one) or dynamic: a
fixed batch lets every shape computation fold away (about 1,000 nodes instead of 1,160 after
optimisation, and 0.2 s instead of 0.5 s of CPU to open the session, which a one-image
``decompose`` pays every time). The graph is stored after onnxruntime's basic (portable,
standard-op) optimisations: constant folding, redundant-node elimination, Gemm fusion.
Pre- and post-processing (fit into the square, resize back) stay outside the graph, in
``model.geometry``, so the same code serves any image size.

Differences from the torch module, none of which change the numbers:
- the ViT position embeddings are resampled once, at export, to the window grid the network
  uses at S (torch resamples them on every forward; the op has no ONNX equivalent);
- ``FastLinear`` layers export as plain ``nn.Linear`` (same parameters);
- with ``storage="fp16"`` every weight that is exactly representable in float16 (all of a model
  exported from fp16 storage, like the shipped one) is stored as float16 and cast back to
  float32 inside the graph: half the file, the same float32 arithmetic.

The file carries its provenance in ONNX metadata: the architecture config, the SHA-256 of the
safetensors weights it was exported from, storage and opset. ``export_onnx`` checks the result
with onnxruntime against torch before it replaces the destination.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import CheckpointError, MissingDependencyError
from .fast_linear import FastLinear
from .files import ONNX_NAME, WEIGHTS_NAME, file_sha256
from .network import LayerIndexNet
from .onnx_runtime import ONNX_FORMAT_NAME, ONNX_FORMAT_VERSION

OPSET = 17  # onnxruntime >= 1.14 runs it; LayerNormalization is a native op from 17
INPUT_NAME = "image"
OUTPUT_NAME = "index"
STORAGES = ("fp16", "fp32")
EXPORT_TOLERANCE = 1e-4  # max |onnxruntime - torch| on a random input, else the export fails
TRAIN_EXTRA = "pip install 'illustrators-depth[train]'"


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError(f"ONNX export needs the onnx package: {TRAIN_EXTRA}") from exc
    return onnx


def exportable_network(net: LayerIndexNet) -> LayerIndexNet:
    """A float32 eval-mode copy of ``net`` that traces to plain ONNX ops (see module docstring)."""
    from timm.layers import resample_abs_pos_embed

    cfg = net.config
    fixed = dataclasses.replace(cfg, vit_img_size=cfg.window_size)
    state = {k: v.detach().to("cpu", torch.float32) for k, v in net.state_dict().items()}
    old = cfg.vit_img_size // cfg.patch_size
    for key in [k for k in state if k.endswith("pos_embed")]:
        vit = net.get_submodule(key.rsplit(".", 1)[0])
        state[key] = resample_abs_pos_embed(
            state[key],
            new_size=[cfg.grid_size, cfg.grid_size],
            old_size=[old, old],
            num_prefix_tokens=0 if vit.no_embed_class else vit.num_prefix_tokens,
        )
    copy = LayerIndexNet(fixed)
    copy.load_state_dict(state, strict=True)
    for parent in list(copy.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FastLinear):
                plain = nn.Linear(
                    child.in_features, child.out_features, child.bias is not None, device="meta"
                )
                plain.weight, plain.bias = child.weight, child.bias
                setattr(parent, name, plain)
    return copy.eval()


def _store_weights_fp16(model_proto) -> int:
    """Store exactly-fp16-representable float initializers as float16 + a Cast; returns count."""
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    graph = model_proto.graph
    casts, halves, dropped = [], [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if values.size < 2 or not np.array_equal(half.astype(np.float32), values):
            continue
        stored = numpy_helper.from_array(half, f"{init.name}__fp16")
        halves.append(stored)
        dropped.append(init)
        casts.append(
            helper.make_node(
                "Cast", [stored.name], [init.name], to=TensorProto.FLOAT, name=f"{init.name}__cast"
            )
        )
    for init in dropped:
        graph.initializer.remove(init)
    graph.initializer.extend(halves)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model_proto)
    return len(halves)


def _optimise(source: Path, destination: Path) -> None:
    """Write ``source`` after onnxruntime's basic graph optimisations to ``destination``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(destination)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def _keep_used_opsets(model_proto) -> None:
    """Drop the opset imports onnxruntime adds for domains no node uses (all ours are standard)."""
    used = {node.domain for node in model_proto.graph.node} | {""}
    kept = [o for o in model_proto.opset_import if o.domain in used]
    del model_proto.opset_import[:]
    model_proto.opset_import.extend(kept)


def _check_with_onnxruntime(path: Path, net: LayerIndexNet, batch: int) -> float:
    """Max |onnxruntime - torch| on a fixed random batch; ValueError above tolerance.
    ``net`` is the float32 network as torch runs it (its training flag is restored)."""
    import onnxruntime as ort

    size = net.config.working_size
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    was_training = net.training
    try:
        with torch.inference_mode():
            want = net.eval()(torch.from_numpy(x)).float().numpy()
    finally:
        net.train(was_training)
    error = float(np.abs(got - want).max())
    if not error <= EXPORT_TOLERANCE:
        raise ValueError(f"ONNX export differs from torch by {error:.2e} (> {EXPORT_TOLERANCE})")
    return error


def export_onnx(
    net: LayerIndexNet,
    path: str | os.PathLike[str],
    *,
    source_sha256: str | None = None,
    storage: str = "fp16",
    batch: int | None = 1,
) -> Path:
    """Write ``net`` as an ONNX model to ``path`` (atomic; checked against torch first).

    ``source_sha256``: hex SHA-256 of the safetensors file the network was loaded from (recorded
    so a stale export can be detected). ``storage``: "fp16" (exactly representable weights as
    float16, compute in float32) or "fp32". ``batch``: fixed batch size, or None for a dynamic
    batch dimension. Returns ``path``.
    """
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    if batch is not None and batch < 1:
        raise ValueError(f"batch must be >= 1 or None (dynamic), got {batch}")
    onnx = _import_onnx()
    out = Path(path)
    plain = exportable_network(net)
    size = net.config.working_size
    metadata = {
        "format": ONNX_FORMAT_NAME,
        "format_version": str(ONNX_FORMAT_VERSION),
        "config": json.dumps(net.config.to_dict(), sort_keys=True),
        "source_sha256": source_sha256 or "",
        "storage": storage,
        "opset": str(OPSET),
        "batch": "dynamic" if batch is None else str(batch),
    }
    temps = []
    for _ in range(2):
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
        temps.append(Path(name))
    raw, tmp = temps
    try:
        with warnings.catch_warnings():  # tracer and deprecation chatter; the result is checked
            warnings.simplefilter("ignore")
            torch.onnx.export(
                plain,
                (torch.zeros(batch or 1, 3, size, size),),
                str(raw),
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=(
                    {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if batch is None else None
                ),
                do_constant_folding=True,
            )
        _optimise(raw, tmp)
        proto = onnx.load(str(tmp))
        _keep_used_opsets(proto)
        if storage == "fp16":
            _store_weights_fp16(proto)
        del proto.metadata_props[:]
        for key, value in metadata.items():
            proto.metadata_props.add(key=key, value=value)
        proto.doc_string = "Illustrator's Depth layer-index network (higher = front)"
        onnx.save(proto, str(tmp))
        fp32 = next(net.parameters()).dtype == torch.float32
        _check_with_onnxruntime(tmp, net if fp32 else plain, batch or 2)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    return out


def export_folder_onnx(folder: str | os.PathLike[str], *, storage: str = "fp16") -> Path:
    """(Re)write ``folder/model.onnx`` from the folder's ``model.safetensors`` + ``config.json``
    (a ``save_pretrained`` folder, e.g. ``model/weights/default``). Returns the ONNX path."""
    from .checkpoint import from_pretrained

    root = Path(folder)
    if not root.is_dir():
        raise CheckpointError(f"{root}: not a model folder")
    net = from_pretrained(root)
    return export_onnx(
        net, root / ONNX_NAME, source_sha256=file_sha256(root / WEIGHTS_NAME), storage=storage
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
