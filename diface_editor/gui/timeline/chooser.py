"""The curve chooser: blendshape channels grouped (mouth, jaw, eyes, brows, cheeks/nose), checkable."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from diface_editor.core.arkit import GROUPS

GROUP_LABELS = {"mouth": "Mouth", "jaw": "Jaw", "eyes": "Eyes", "brows": "Brows", "cheeks_nose": "Cheeks / nose"}
GROUP_ORDER = ("mouth", "jaw", "eyes", "brows", "cheeks_nose")


class CurveChooser(QtWidgets.QWidget):
    """A tree of face channels with check boxes; a filter field narrows it by name.

    Signals:
        selection_changed(list): the checked channel names, in ARKit order of the document.
    """

    selection_changed = QtCore.Signal(list)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: tuple[str, ...] = ()
        self._items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        self._updating = False
        self._colors: dict[str, str] = {}
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        self.filter = QtWidgets.QLineEdit(placeholderText="Filter curves…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Show only channels whose name contains this text")
        self.filter.textChanged.connect(self._apply_filter)
        lay.addWidget(self.filter)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setToolTip("Tick the blendshape curves to draw in the timeline's face track")
        self.tree.itemChanged.connect(self._on_item_changed)
        lay.addWidget(self.tree, 1)
        row = QtWidgets.QHBoxLayout()
        clear = QtWidgets.QPushButton("None")
        clear.setToolTip("Hide all blendshape curves")
        clear.clicked.connect(lambda: self.set_checked([]))
        row.addStretch(1)
        row.addWidget(clear)
        lay.addLayout(row)

    def set_channels(self, names: tuple[str, ...], checked: list[str]) -> None:
        """Fill the tree for ``names`` (ARKit channels are grouped; others go under "Other")."""
        self._updating = True
        try:
            self.tree.clear()
            self._items.clear()
            self._names = tuple(names)
            groups: dict[str, list[str]] = {g: [] for g in GROUP_ORDER}
            other = []
            member = {n: g for g, ns in GROUPS.items() for n in ns}
            for n in names:
                (groups[member[n]] if n in member else other).append(n)
            for g in list(GROUP_ORDER) + (["other"] if other else []):
                ns = groups.get(g, other if g == "other" else [])
                if not ns:
                    continue
                top = QtWidgets.QTreeWidgetItem([GROUP_LABELS.get(g, "Other")])
                top.setFlags(top.flags() | QtCore.Qt.ItemIsUserCheckable | QtCore.Qt.ItemIsAutoTristate)
                f = top.font(0)
                f.setBold(True)
                top.setFont(0, f)
                self.tree.addTopLevelItem(top)
                for n in ns:
                    it = QtWidgets.QTreeWidgetItem([n])
                    it.setFlags(it.flags() | QtCore.Qt.ItemIsUserCheckable)
                    it.setCheckState(0, QtCore.Qt.Checked if n in checked else QtCore.Qt.Unchecked)
                    it.setData(0, QtCore.Qt.UserRole, n)
                    top.addChild(it)
                    self._items[n] = it
                top.setExpanded(any(n in checked for n in ns))
        finally:
            self._updating = False
        self._apply_filter(self.filter.text())
        if self._colors:
            self.set_colors(self._colors)

    def set_colors(self, colors: dict[str, str]) -> None:
        self._colors = dict(colors)
        self._updating = True
        try:
            for n, it in self._items.items():
                c = colors.get(n)
                it.setForeground(0, QtGui.QBrush(QtGui.QColor(c)) if c else QtGui.QBrush())
        finally:
            self._updating = False

    def checked(self) -> list[str]:
        return [n for n in self._names if n in self._items and self._items[n].checkState(0) == QtCore.Qt.Checked]

    def set_checked(self, names: list[str]) -> None:
        self._updating = True
        try:
            for n, it in self._items.items():
                it.setCheckState(0, QtCore.Qt.Checked if n in names else QtCore.Qt.Unchecked)
        finally:
            self._updating = False
        self.selection_changed.emit(self.checked())

    def _on_item_changed(self, item, col) -> None:
        if not self._updating:
            self.selection_changed.emit(self.checked())

    def _apply_filter(self, text: str) -> None:
        text = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            any_shown = False
            for j in range(top.childCount()):
                it = top.child(j)
                show = not text or text in it.text(0).lower()
                it.setHidden(not show)
                any_shown |= show
            top.setHidden(not any_shown)
            if text and any_shown:
                top.setExpanded(True)
