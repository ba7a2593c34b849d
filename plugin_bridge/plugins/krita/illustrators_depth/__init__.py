"""Krita entry point: registers the Illustrator's Depth docker (Settings > Dockers)."""

from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita

from .docker import DepthDocker

Krita.instance().addDockWidgetFactory(
    DockWidgetFactory("illustratorsDepthDocker", DockWidgetFactoryBase.DockRight, DepthDocker)
)
