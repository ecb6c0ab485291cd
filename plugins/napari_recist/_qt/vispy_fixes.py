"""A workaround for a vispy bug that re-links shader programs on every slice step.

vispy's ``MeshVisual._update_data`` (run at the next draw after any ``set_data``)
assigns ``self._build_color_transform(colors)`` to the vertex shader's
``color_transform``. For colours that are not scalar values that method returns a
*new* pass-through ``Function`` each time; vispy compares template values by
identity, so every data update marks the program's code as changed and the next
draw rebuilds it: GLSL generated, compiled and linked again, and every uniform and
attribute looked up anew (vispy/vispy#2568, open since 2024-01; vispy 0.17.0 is
affected).

napari draws Shapes layers (and its text-overlay boxes) with ``MeshVisual``; a
Shapes layer's mesh is rebuilt whenever the slice shown changes, so each slice step
re-linked three programs per canvas. Measured with real key presses in the reading
workstation (8 targets × 6 time points, two panes): the draws' CPU time fell from
52 ms to 15 ms per step with this fix.

:func:`install` makes ``_build_color_transform`` return the same pass-through
function object for a visual every time, so an unchanged shader is left alone.
The shader code is identical (the same GLSL function); only the identity of the
Python object is kept. Scalar-value colours (``colors.shape == (n, 1)``) keep
vispy's own code path. Installing is idempotent (a second call finds the method
already replaced) and does nothing if vispy has no such method.

Remove this module when vispy#2568 is fixed in the vispy that napari requires: the
test ``test_slice_steps_relink_no_shader`` (tests/napari_recist/test_widget.py) then
passes without :func:`install`.
"""

from __future__ import annotations

from typing import Any

_MARK = "_recist_keeps_pass_function"


def install() -> bool:
    """Install the workaround (once per process).

    Returns
    -------
    bool
        True if vispy's ``MeshVisual`` is patched (now or before), False if this
        vispy has no such method (nothing done).
    """
    try:
        from vispy.visuals.mesh import MeshVisual
    except ImportError:  # pragma: no cover - napari always brings vispy
        return False
    original = getattr(MeshVisual, "_build_color_transform", None)
    if original is None:
        return False
    if getattr(original, _MARK, False):
        return True

    def build_color_transform(self: Any, colors: Any) -> Any:
        if colors.ndim == 2 and colors.shape[1] == 1:
            return original(self, colors)  # a colormap of values: vispy's own
        kept = self.__dict__.get(_MARK)
        if kept is None:
            kept = original(self, colors)
            self.__dict__[_MARK] = kept
        return kept

    setattr(build_color_transform, _MARK, True)
    build_color_transform.__doc__ = original.__doc__
    MeshVisual._build_color_transform = build_color_transform
    return True
