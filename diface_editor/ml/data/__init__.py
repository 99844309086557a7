"""Research datasets in other systems' layouts: VOCASET (FaceFormer layout) and HDTF (3DiFACE tracking).

:mod:`.vocaset` and :mod:`.hdtf` find and read sequences as vertex-space
:class:`~diface_editor.core.animation.Animation` objects (offsets from the subject template, 30 fps);
:mod:`.convert` writes them as ``<name>.wav`` + ``<name>.npz`` pairs, the layout ``diface train``
and ``diface adapt`` read (``diface convert-data``). Reading is numpy only and never unpickles
anything but plain arrays.
"""

from diface_editor.ml.data.convert import ConvertReport, convert_dataset
from diface_editor.ml.data.hdtf import HdtfSequence, find_hdtf
from diface_editor.ml.data.vocaset import (
                                           VOCA_TEST,
                                           VOCA_TRAIN,
                                           VOCA_VAL,
                                           VocasetSequence,
                                           find_vocaset,
                                           parse_sentences,
                                           parse_subjects,
)

__all__ = ["ConvertReport", "convert_dataset", "HdtfSequence", "find_hdtf", "VocasetSequence", "find_vocaset",
           "parse_sentences", "parse_subjects", "VOCA_TRAIN", "VOCA_VAL", "VOCA_TEST"]
