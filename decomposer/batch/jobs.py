"""The batch's plain data: what to run (RunOptions, ModelSpec, Job) and what came of it
(FileResult). Everything here is picklable, so it can travel to a worker process or another
machine of a Ray cluster."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from decomposer.options import DecomposeOptions

# Per-file statuses in results and reports.
DONE, SKIPPED, FAILED, INTERRUPTED, PLANNED = "done", "skipped", "failed", "interrupted", "planned"
STATUSES = (DONE, SKIPPED, FAILED, INTERRUPTED, PLANNED)

# FileResult.error_kind values: a bad input file, a refused write (an existing file the tool may
# not replace, an output that is its input or another input's), a failed --verify, anything else.
INPUT_ERROR, REFUSED, VERIFY_ERROR, OTHER_ERROR = "input", "refused", "verify", "error"


@dataclass(frozen=True)
class ModelSpec:
    """How to load the layer-index network: picklable, so each worker loads its own copy.

    weights: a model spec for `model.load`: None = the shipped default model; "random:PRESET"
        (untrained, for tests); or a weights folder/file (`save_pretrained`, .onnx, .pt).
    device: torch device name ("cpu", "cuda:1", ...) or None for the best available.
    """

    weights: str | None = None
    device: str | None = None

    @property
    def label(self) -> str:
        """The name for messages: the --model value, or "default"."""
        return self.weights or "default"

    def absolute(self) -> ModelSpec:
        """A copy whose weights path (if it is one) is absolute, for workers with another cwd."""
        from model.loading import RANDOM_PREFIX

        if (
            self.weights is None
            or self.weights.startswith(RANDOM_PREFIX)
            or not Path(self.weights).exists()
        ):
            return self
        return replace(self, weights=str(Path(self.weights).absolute()))

    def load(self) -> Any:
        """The network, in eval mode. Raises decomposer.errors.ModelLoadError."""
        from decomposer.pipeline import load_model

        return load_model(self.weights)

    def fingerprint(self) -> str:
        """Identifies the weights (part of the resume key): retrained weights change it."""
        from decomposer.batch.fingerprint import weights_fingerprint

        return weights_fingerprint(self.weights)


@dataclass(frozen=True)
class RunOptions:
    """Everything that decides how one file is decomposed and written.

    decompose: how the image is decomposed (layers, ordering, completion, max_pixels, ...).
    format: "psd" | "ora" | "png". extras: PSD/ORA hidden extra layers. model: which network
    and device. verify: re-read each written file and check it recomposes the input.
    """

    decompose: DecomposeOptions = field(default_factory=DecomposeOptions)
    format: str = "psd"
    extras: bool = True
    model: ModelSpec = field(default_factory=ModelSpec)
    verify: bool = False

    def needs_network(self) -> bool:
        """Does the ordering need the network's index map (else no model is loaded)?"""
        from decomposer.ordering import ORDERINGS

        return ORDERINGS[self.decompose.ordering].needs_index(None)

    def models_fingerprint(self) -> str:
        """Identifies the trained models the results depend on (part of the resume key): the
        network's weights when the ordering runs it, and the ordering's own model (the graph
        orderer), so retraining either redoes the files."""
        from decomposer.ordering import ORDERINGS

        ordering = ORDERINGS[self.decompose.ordering]
        net = self.model.fingerprint() if self.needs_network() else None
        return json.dumps({"net": net, "ordering": ordering.model_id(None)}, sort_keys=True)

    def key_fields(self) -> dict[str, Any]:
        """The options that change what is written (part of the resume key; the weights are
        identified by their fingerprint, not by name)."""
        return {**self.decompose.key_fields(), "format": self.format, "extras": self.extras}


@dataclass(frozen=True)
class Job:
    """One input file and where its results go. depth_out: index-map path or None; preview:
    PNG contact-sheet path (input, index map, every layer; `decomposer.preview`) or None.

    Paths are as the user gave them (relative to the driver's working folder or absolute).
    """

    source: Path
    output: Path
    depth_out: Path | None = None
    preview: Path | None = None

    def absolute(self, cwd: Path) -> Job:
        """The same job with every path made absolute against `cwd` (for another process)."""

        def anchor(path: Path) -> Path:
            return path if path.is_absolute() else cwd / path

        depth = None if self.depth_out is None else anchor(self.depth_out)
        preview = None if self.preview is None else anchor(self.preview)
        return Job(anchor(self.source), anchor(self.output), depth, preview)


@dataclass
class FileResult:
    """Outcome for one input (one entry of the report).

    status: done | skipped | failed | interrupted | planned.
    error_kind: None, "input" (bad input file), "refused" (would replace a file it may not, or
        collides with another input's output), "verify", or "error" (anything else).
    seconds: wall time spent on the file; timings: per-stage seconds.
    attempts: how many workers started it (more than 1 after a worker process died).
    worker: "PID-HOSTTAG" of the process that produced the result (None when not run).
    input_sha256 / input_stat: content hash and [size, mtime_ns] of the input as it was read;
    output_stamp: [size, mtime_ns] of the output as its worker wrote it (the journal records
        them; the stats are not part of the report).
    """

    input: str
    output: str
    status: str
    error: str | None = None
    error_kind: str | None = None
    layers: int | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    verified: bool | None = None
    depth_out: str | None = None
    attempts: int = 0
    worker: str | None = None
    input_sha256: str | None = None
    input_stat: list[int] | None = None
    output_stamp: list[int] | None = None

    def to_json(self) -> dict[str, Any]:
        """Report entry (JSON-serialisable)."""
        data = asdict(self)
        del data["input_stat"], data["output_stamp"]
        data["seconds"] = round(self.seconds, 3)
        data["timings"] = {k: round(v, 4) for k, v in self.timings.items()}
        return data

    @classmethod
    def for_job(cls, job: Job, status: str, **fields: Any) -> FileResult:
        """A result for `job` (input and output named as the user gave them)."""
        return cls(input=str(job.source), output=str(job.output), status=status, **fields)
