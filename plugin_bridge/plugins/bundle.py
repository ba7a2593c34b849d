"""Build installable Krita and GIMP plug-in archives (stdlib only).

The plug-ins run inside the editors' own Pythons, so each archive carries its own copies of the
two shared stdlib modules: `plugin_bridge/client.py` (as `bridge_client.py`) and
`plugins/common/layers_from_result.py`.

    python -m plugin_bridge.plugins.bundle                 # both, into ./dist
    python -m plugin_bridge.plugins.bundle krita -o out/   # Krita only
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

PLUGINS = Path(__file__).resolve().parent
CLIENT = PLUGINS.parent / "client.py"
SHARED = {
    "bridge_client.py": CLIENT,
    "layers_from_result.py": PLUGINS / "common" / "layers_from_result.py",
}
EDITORS = ("krita", "gimp")
ARCHIVE_NAMES = {"krita": "illustrators-depth-krita.zip", "gimp": "illustrators-depth-gimp.zip"}


def bundle_members(editor: str) -> dict[str, Path]:
    """Archive path -> source file for one editor's plug-in."""
    if editor == "krita":
        package = PLUGINS / "krita" / "illustrators_depth"
        members = {"illustrators_depth.desktop": PLUGINS / "krita" / "illustrators_depth.desktop"}
        members.update({f"illustrators_depth/{p.name}": p for p in sorted(package.glob("*.py"))})
        members.update({f"illustrators_depth/{name}": src for name, src in SHARED.items()})
        members["illustrators_depth/README.md"] = PLUGINS / "krita" / "README.md"
        return members
    if editor == "gimp":
        folder = PLUGINS / "gimp" / "illustrators-depth"
        members = {f"illustrators-depth/{p.name}": p for p in sorted(folder.glob("*.py"))}
        members.update({f"illustrators-depth/{name}": src for name, src in SHARED.items()})
        return members
    raise ValueError(f"unknown editor {editor!r}; choose one of {', '.join(EDITORS)}")


def write_bundle(editor: str, out_dir: Path) -> Path:
    """Write `<out_dir>/illustrators-depth-<editor>.zip` atomically; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / ARCHIVE_NAMES[editor]
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, source in bundle_members(editor).items():
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                executable = editor == "gimp" and name.endswith("/illustrators-depth.py")
                info.external_attr = (0o100755 if executable else 0o100644) << 16
                archive.writestr(info, source.read_bytes())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    """CLI: build the requested bundles and print where they are."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "editors", nargs="*", metavar="EDITOR", help="krita and/or gimp (default: both)"
    )
    parser.add_argument(
        "-o", "--out", type=Path, default=Path("dist"), help="output folder (default: ./dist)"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.editors) - set(EDITORS))
    if unknown:
        parser.error(f"unknown editor {unknown[0]!r}; choose from {', '.join(EDITORS)}")
    for editor in args.editors or EDITORS:
        print(write_bundle(editor, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
