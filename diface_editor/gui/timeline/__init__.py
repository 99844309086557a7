"""The timeline view (pyqtgraph): waveform, head and blendshape curves, playhead, keyframes, range."""

from diface_editor.gui.timeline.chooser import CurveChooser
from diface_editor.gui.timeline.widget import TimelineWidget

__all__ = ["CurveChooser", "TimelineWidget"]
