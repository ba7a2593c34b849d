"""File identities: content hash, stats, PNG-stack stamps, and the weights' fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from decomposer.batch.fingerprint import file_sha256, file_stat, output_stamp, weights_fingerprint


def test_content_hash_and_stats(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)  # more than one 1 MiB block
    (tmp_path / "a.png").write_bytes(data)
    assert file_sha256(tmp_path / "a.png") == hashlib.sha256(data).hexdigest()
    info = (tmp_path / "a.png").stat()
    assert file_stat(tmp_path / "a.png") == [info.st_size, info.st_mtime_ns]
    assert file_stat(tmp_path / "missing.png") is None
    stack = tmp_path / "a_layers"
    stack.mkdir()
    (stack / "manifest.json").write_text(json.dumps({"layers": []}))
    assert output_stamp(stack) == file_stat(stack / "manifest.json")
    assert output_stamp(tmp_path / "none.psd") is None


def test_weights_fingerprint_follows_the_weight_files(tmp_path: Path) -> None:
    from model import create_model, save_pretrained

    assert weights_fingerprint("random:tiny") == "random:tiny:seed0"
    assert weights_fingerprint("tiny") == "tiny"  # names nothing: loading it reports the error
    assert len(weights_fingerprint(None)) == 64  # the shipped default's weights
    save_pretrained(create_model("tiny"), tmp_path / "w")
    before = weights_fingerprint(str(tmp_path / "w"))
    assert weights_fingerprint(str(tmp_path / "w")) == before
    weights = tmp_path / "w" / "model.safetensors"
    info = weights.stat()
    os.utime(weights, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # touched, same weights
    assert weights_fingerprint(str(tmp_path / "w")) == before
    save_pretrained(create_model("tiny"), tmp_path / "w")  # retrained in place
    assert weights_fingerprint(str(tmp_path / "w")) != before


def test_the_resume_key_follows_the_models_the_ordering_uses(tmp_path: Path) -> None:
    import shutil

    from decomposer.batch.jobs import ModelSpec, RunOptions
    from decomposer.options import DecomposeOptions
    from decomposer.orderer import DEFAULT_ORDERER_DIR, Orderer, load_orderer

    shipped = load_orderer()
    graph = json.loads(RunOptions().models_fingerprint())
    assert graph == {"net": None, "ordering": shipped.fingerprint}  # graph: no network
    median = RunOptions(decompose=DecomposeOptions(ordering="median"))
    assert json.loads(median.models_fingerprint()) == {
        "net": weights_fingerprint(None),
        "ordering": None,
    }
    other_net = RunOptions(
        decompose=DecomposeOptions(ordering="median"), model=ModelSpec("random:tiny")
    )
    assert other_net.models_fingerprint() != median.models_fingerprint()
    # a retrained orderer has another fingerprint (the files' bytes, not their names or dates)
    copy = tmp_path / "orderer"
    shutil.copytree(DEFAULT_ORDERER_DIR, copy)
    assert Orderer.load(copy).fingerprint == shipped.fingerprint
    meta = json.loads((copy / "meta.json").read_text())
    meta["solver"]["scale"] = float(meta["solver"].get("scale", 1.0)) + 1.0
    (copy / "meta.json").write_text(json.dumps(meta))
    assert Orderer.load(copy).fingerprint != shipped.fingerprint
