"""The Krita docker: decompose the active document into ordered paint layers in a new group.

Network work runs on a Python thread (Krita's UI never blocks); results come back through a Qt
signal. Pixel I/O: `Document.pixelData` / `Node.setPixelData` use BGRA, straight alpha, for 8-bit
RGBA documents, which is the only colour model accepted here.
"""

from __future__ import annotations

import threading

from krita import DockWidget, Krita

try:
    from PyQt5.QtCore import QByteArray, QObject, pyqtSignal
    from PyQt5.QtGui import QImage
    from PyQt5.QtWidgets import (
        QCheckBox,
        QFormLayout,
        QHBoxLayout,
        QLabel,
        QLineEdit,
        QProgressBar,
        QPushButton,
        QSpinBox,
        QVBoxLayout,
        QWidget,
    )
except ImportError:  # Krita 6 ships PyQt6
    from PyQt6.QtCore import QByteArray, QObject, pyqtSignal
    from PyQt6.QtGui import QImage
    from PyQt6.QtWidgets import (
        QCheckBox,
        QFormLayout,
        QHBoxLayout,
        QLabel,
        QLineEdit,
        QProgressBar,
        QPushButton,
        QSpinBox,
        QVBoxLayout,
        QWidget,
    )

from .bridge_client import BridgeClient, BridgeError
from .layers_from_result import LayerStack, ResultError, decompose_document, encode_png

SETTINGS_GROUP = "illustrators_depth"
DEFAULT_URL = "http://127.0.0.1:47863"


class JobSignals(QObject):
    """Carries worker-thread outcomes to the UI thread."""

    progress = pyqtSignal(float, str)
    done = pyqtSignal(object)
    failed = pyqtSignal(str)


class DepthDocker(DockWidget):
    """Settings > Dockers > Illustrator's Depth."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Illustrator's Depth")
        self.signals = JobSignals()
        self.signals.progress.connect(self._show_progress)
        self.signals.done.connect(self._insert_layers)
        self.signals.failed.connect(self._show_error)
        self.job_id: str | None = None
        self.document = None
        self._build_ui()

    def _build_ui(self) -> None:
        app = Krita.instance()
        body = QWidget(self)
        form = QFormLayout()
        self.url = QLineEdit(app.readSetting(SETTINGS_GROUP, "url", DEFAULT_URL))
        self.token = QLineEdit(app.readSetting(SETTINGS_GROUP, "token", ""))
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("decompose-bridge --print-token")
        self.count = QSpinBox()
        self.count.setRange(1, 64)
        self.count.setValue(int(app.readSetting(SETTINGS_GROUP, "layers", "6") or 6))
        self.auto = QCheckBox("auto")
        count_row = QHBoxLayout()
        count_row.addWidget(self.count)
        count_row.addWidget(self.auto)
        form.addRow("Bridge", self.url)
        form.addRow("Token", self.token)
        form.addRow("Layers", count_row)
        self.run_button = QPushButton("Decompose active document")
        self.run_button.clicked.connect(self._start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._cancel)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        column = QVBoxLayout(body)
        column.addLayout(form)
        column.addWidget(self.run_button)
        column.addWidget(self.cancel_button)
        column.addWidget(self.bar)
        column.addWidget(self.message)
        column.addStretch(1)
        self.setWidget(body)

    def canvasChanged(self, canvas) -> None:  # noqa: N802 (Krita's API name)
        """Required by DockWidget; the docker always works on the active document."""

    def _client(self) -> BridgeClient:
        app = Krita.instance()
        app.writeSetting(SETTINGS_GROUP, "url", self.url.text().strip())
        app.writeSetting(SETTINGS_GROUP, "token", self.token.text().strip())
        app.writeSetting(SETTINGS_GROUP, "layers", str(self.count.value()))
        return BridgeClient(self.url.text().strip(), token=self.token.text().strip())

    def _start(self) -> None:
        doc = Krita.instance().activeDocument()
        if doc is None:
            self._show_error("Open a document first.")
            return
        if doc.colorModel() != "RGBA" or doc.colorDepth() != "U8":
            self._show_error(
                "Convert the image to 8-bit RGB/Alpha first (Image > Convert Image Color Space)."
            )
            return
        width, height = doc.width(), doc.height()
        png = encode_png(width, height, bytes(doc.pixelData(0, 0, width, height)), "BGRA")
        self.document = doc
        layers = "auto" if self.auto.isChecked() else self.count.value()
        client = self._client()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setValue(0)
        self.message.setText("Uploading…")
        threading.Thread(target=self._run, args=(client, png, layers), daemon=True).start()

    def _run(self, client: BridgeClient, png: bytes, layers: int | str) -> None:
        """Worker thread: submit, follow, fetch; report through signals only."""

        def on_event(event) -> None:
            data = event if isinstance(event, dict) else getattr(event, "data", {}) or {}
            if data.get("id") and self.job_id is None:
                self.job_id = data["id"]
            progress = data.get("progress")
            if isinstance(progress, (int, float)):
                self.signals.progress.emit(float(progress), str(data.get("stage") or ""))

        try:
            self.signals.done.emit(
                decompose_document(client, png, layers=layers, on_event=on_event)
            )
        except (BridgeError, ResultError, OSError) as error:
            self.signals.failed.emit(str(error))
        except Exception as error:  # a thread must always report back, or the docker stays busy
            self.signals.failed.emit(f"Unexpected error: {error!r}")

    def _cancel(self) -> None:
        if self.job_id:
            try:
                self._client().cancel(self.job_id)
                self.message.setText("Cancelling at the next stage…")
            except (BridgeError, OSError) as error:
                self._show_error(str(error))

    def _show_progress(self, progress: float, stage: str) -> None:
        self.bar.setValue(round(100 * progress))
        self.message.setText(f"Working: {stage}…" if stage else "Working…")

    def _show_error(self, text: str) -> None:
        self._finish()
        self.message.setText(text)

    def _finish(self) -> None:
        self.job_id = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _insert_layers(self, stack: LayerStack) -> None:
        """Create the group on top of the document and one paint layer per result layer."""
        doc = self.document
        self._finish()
        root = doc.rootNode()
        group = doc.createGroupLayer(stack.group_name)
        children = root.childNodes()
        root.addChildNode(group, children[-1] if children else None)
        below = None
        for layer in stack.layers:  # bottom -> top: each new node goes above the previous one
            node = doc.createNode(layer.name, "paintlayer")
            group.addChildNode(node, below)
            image = QImage.fromData(layer.png, "PNG").convertToFormat(QImage.Format.Format_ARGB32)
            bits = image.constBits()
            bits.setsize(image.sizeInBytes())
            node.setPixelData(QByteArray(bytes(bits)), layer.x, layer.y, layer.width, layer.height)
            below = node
        doc.refreshProjection()
        self.bar.setValue(100)
        self.message.setText(f"Added {len(stack.layers)} layers in “{stack.group_name}”.")
