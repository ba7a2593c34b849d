#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters > Illustrator's Depth > Decompose into Layers.

Sends the visible image to the local decompose-bridge and adds the ordered layers (bottom -> top)
in a new layer group on top of the image. Editor-independent work lives in layers_from_result.py;
the HTTP client is bridge_client.py (both copied next to this file by the bundler).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, Gio, GLib, GObject  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bridge_client import BridgeClient, BridgeError  # noqa: E402
from layers_from_result import LayerStack, ResultError, decompose_document, encode_png  # noqa: E402

PROCEDURE = "python-fu-illustrators-depth-decompose"
DEFAULT_URL = "http://127.0.0.1:47863"


def visible_png(image: Gimp.Image) -> bytes:
    """The image as the user sees it (all visible layers merged), as RGBA PNG bytes."""
    copy = image.duplicate()
    try:
        merged = copy.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
        width, height = copy.get_width(), copy.get_height()
        rect = Gegl.Rectangle.new(0, 0, width, height)
        pixels = merged.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.NONE)
        return encode_png(width, height, bytes(pixels), "RGBA")
    finally:
        copy.delete()


def insert_stack(image: Gimp.Image, stack: LayerStack) -> None:
    """Add a group on top of the image holding one layer per result layer, bottom -> top."""
    group = Gimp.GroupLayer.new(image, stack.group_name)
    image.insert_layer(group, None, 0)
    with tempfile.TemporaryDirectory(prefix="illustrators-depth-") as folder:
        for layer in stack.layers:  # bottom first; position 0 puts each new layer on top
            path = Path(folder) / f"layer-{layer.position}.png"
            path.write_bytes(layer.png)
            item = Gimp.file_load_layer(
                Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(str(path))
            )
            item.set_name(layer.name)
            image.insert_layer(item, group, 0)
            item.set_offsets(layer.x, layer.y)


class IllustratorsDepth(Gimp.PlugIn):
    """Registers the one procedure of this plug-in."""

    def do_query_procedures(self) -> list[str]:
        return [PROCEDURE]

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_create_procedure(self, name: str) -> Gimp.Procedure:
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, self.run, None)
        procedure.set_image_types("*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
        procedure.set_menu_label("Decompose into _Layers…")
        procedure.add_menu_path("<Image>/Filters/Illustrator's Depth")
        procedure.set_documentation(
            "Decompose into ordered layers",
            "Sends the visible image to the local decompose-bridge and adds its layers, "
            "back to front, in a new layer group.",
            name,
        )
        procedure.set_attribution("Illustrator's Depth contributors", "Apache-2.0", "2026")
        procedure.add_int_argument(
            "layers",
            "_Layers",
            "Number of layers (0 = auto)",
            0,
            64,
            6,
            GObject.ParamFlags.READWRITE,
        )
        procedure.add_string_argument(
            "bridge-url", "_Bridge", "Bridge address", DEFAULT_URL, GObject.ParamFlags.READWRITE
        )
        procedure.add_string_argument(
            "token",
            "_Token",
            "Output of decompose-bridge --print-token",
            "",
            GObject.ParamFlags.READWRITE,
        )
        return procedure

    def run(self, procedure, run_mode, image, drawables, config, run_data):
        if run_mode == Gimp.RunMode.INTERACTIVE:
            GimpUi.init("illustrators-depth")
            dialog = GimpUi.ProcedureDialog.new(procedure, config, "Illustrator's Depth")
            dialog.fill(None)
            accepted = dialog.run()
            dialog.destroy()
            if not accepted:
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        count = config.get_property("layers")
        client = BridgeClient(config.get_property("bridge-url"), token=config.get_property("token"))

        def on_event(event) -> None:
            data = event if isinstance(event, dict) else getattr(event, "data", {}) or {}
            if isinstance(data.get("progress"), (int, float)):
                Gimp.progress_update(float(data["progress"]))

        Gimp.progress_init("Illustrator's Depth: decomposing…")
        try:
            stack = decompose_document(
                client, visible_png(image), layers=count or "auto", on_event=on_event
            )
            image.undo_group_start()
            try:
                insert_stack(image, stack)
            finally:
                image.undo_group_end()
        except (BridgeError, ResultError, OSError) as error:
            return procedure.new_return_values(
                Gimp.PDBStatusType.EXECUTION_ERROR,
                GLib.Error.new_literal(GLib.quark_from_string("illustrators-depth"), str(error), 0),
            )
        Gimp.displays_flush()
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


if __name__ == "__main__":
    Gimp.main(IllustratorsDepth.__gtype__, sys.argv)
