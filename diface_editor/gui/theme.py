"""The editor's look: a dark Fusion palette, a small style sheet and matching pyqtgraph defaults."""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

#: Colours shared by the timeline and viewport (hex strings).
COLORS = {
    "window": "#2b2d31",
    "base": "#1e1f22",
    "panel": "#26282c",
    "text": "#d7d9dc",
    "dim": "#8a8f98",
    "accent": "#4f9dff",
    "playhead": "#ff5a4f",
    "selection": (79, 157, 255, 45),
    "waveform": "#4fc3b0",
    "keyframe": "#ffc641",
    "yaw": "#ff6b6b",
    "pitch": "#7bd88f",
    "roll": "#62a8ff",
    "viewport_bg": "#3a3d44",
    "legend_bg": (43, 45, 49, 225),  # lighter than "base" (the tracks): a legend over curves dims them
    "legend_border": "#4a4e57",
}

#: Distinct curve colours for blendshape channels (cycled).
CURVE_PALETTE = ("#f4a261", "#a78bfa", "#22d3ee", "#facc15", "#f472b6", "#4ade80", "#fb7185", "#60a5fa",
                 "#e9c46a", "#c084fc", "#2dd4bf", "#fda4af")

_STYLE = """
QToolTip { color: #e8e8e8; background: #33363c; border: 1px solid #55585f; padding: 3px; }
QDockWidget { titlebar-close-icon: none; }
QDockWidget::title { background: #23252a; padding: 4px 6px; }
QStatusBar { background: #23252a; }
QStatusBar QLabel { padding: 0 6px; }
QToolBar { background: #2b2d31; border: 0; spacing: 4px; padding: 2px; }
QToolButton { padding: 3px 6px; border-radius: 3px; }
QToolButton:hover { background: #3a3d44; }
QToolButton:checked { background: #3b4b63; }
QGroupBox { border: 1px solid #3a3d44; border-radius: 4px; margin-top: 14px; padding-top: 4px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 3px; color: #a9adb5; }
QPushButton#primary { background: #2f6fcf; color: white; border: 0; padding: 6px 12px; border-radius: 4px; }
QPushButton#primary:hover { background: #3b7ee3; }
QPushButton#primary:disabled { background: #3a3d44; color: #80848c; }
QTreeWidget { alternate-background-color: #24262a; }
"""


def apply_dark_theme(app: QtWidgets.QApplication) -> None:
    """Fusion style with a dark palette and the editor's style sheet; pyqtgraph uses matching colours."""
    app.setStyle("Fusion")
    p = QtGui.QPalette()
    c = QtGui.QColor
    p.setColor(QtGui.QPalette.Window, c(COLORS["window"]))
    p.setColor(QtGui.QPalette.WindowText, c(COLORS["text"]))
    p.setColor(QtGui.QPalette.Base, c(COLORS["base"]))
    p.setColor(QtGui.QPalette.AlternateBase, c("#24262a"))
    p.setColor(QtGui.QPalette.ToolTipBase, c("#33363c"))
    p.setColor(QtGui.QPalette.ToolTipText, c("#e8e8e8"))
    p.setColor(QtGui.QPalette.Text, c(COLORS["text"]))
    p.setColor(QtGui.QPalette.Button, c("#34373d"))
    p.setColor(QtGui.QPalette.ButtonText, c(COLORS["text"]))
    p.setColor(QtGui.QPalette.BrightText, c("#ff6b6b"))
    p.setColor(QtGui.QPalette.Highlight, c(COLORS["accent"]))
    p.setColor(QtGui.QPalette.HighlightedText, c("#ffffff"))
    p.setColor(QtGui.QPalette.Link, c(COLORS["accent"]))
    p.setColor(QtGui.QPalette.PlaceholderText, c(COLORS["dim"]))
    for role in (QtGui.QPalette.WindowText, QtGui.QPalette.Text, QtGui.QPalette.ButtonText):
        p.setColor(QtGui.QPalette.Disabled, role, c("#6b6f77"))
    app.setPalette(p)
    app.setStyleSheet(_STYLE)
    configure_pyqtgraph()


def configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(background=COLORS["base"], foreground=COLORS["dim"], antialias=False,
                        useNumba=False)
