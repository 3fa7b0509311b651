"""Silence larq's "starved weights" warning for AdaSTE kernels, and only for them.

larq logs "Using a binary weight quantizer without setting `kernel_constraint` may result in
starved weights" whenever a layer gets a 1-bit quantizer and no constraint: with its
straight-through estimators a latent weight can drift far past +-1, where the clipped
gradient is zero for good. AdaSTE needs no constraint (its backward already stops outward
steps of saturated weights, and inward steps keep flowing), so for AdaSTE the warning is noise,
logged once per layer on every build and every `load_model`.

larq emits it from the layer's `__init__` (`larq.layers_base`) with no reference to the
layer in the record, so a `logging.Filter` on that logger finds the emitting frame (the one
at the record's file, function and line) and reads the quantizer the message is about from
that frame's `self`. A record it cannot attribute is kept: the filter only ever drops a
warning about an AdaSTE quantizer. `install()` runs at `import adaste_tf`.

`install()` also makes `larq.context.quantized_scope` restore the previous state when the code
inside it raises. larq's own version does not: an error inside a larq layer's call (say, a
quantizer class given for an instance) left `larq.context.should_quantize()` True for the rest
of the process, and from then on every model's `get_weights()` returned +-1 and saving a model
failed in its quantizers' gradients (issue 32). On success nothing changes.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator
from types import FrameType

LOGGER = "larq.layers_base"
# "... without setting `kernel_constraint` ..." -> the quantizer attribute "kernel_quantizer";
# also `depthwise_constraint` and `pointwise_constraint` for separable layers.
_STARVED = re.compile(r"without setting `(?P<kind>\w+)_constraint` may result in starved weights")


class AdaSTEConstraintFilter(logging.Filter):
    """Drops larq's constraint warning when the quantizer it is about is an AdaSTE.

    Examples:
        >>> any(isinstance(f, AdaSTEConstraintFilter)  # installed by `import adaste_tf`
        ...     for f in logging.getLogger(LOGGER).filters)
        True
    """

    def filter(self, record: logging.LogRecord) -> bool:
        match = _STARVED.search(record.getMessage())
        if match is None:
            return True
        layer = _emitting_self(record)
        quantizer = getattr(layer, f"{match['kind']}_quantizer", None)
        return not _is_adaste(quantizer)


def install() -> None:
    """Add the filter to larq's layer logger and the restoring `quantized_scope` to
    `larq.context`, once (importing adaste_tf again adds nothing)."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(f, AdaSTEConstraintFilter) for f in logger.filters):
        logger.addFilter(AdaSTEConstraintFilter())
    import larq.context

    if larq.context.quantized_scope is not quantized_scope:
        larq.context.quantized_scope = quantized_scope


@contextlib.contextmanager
def quantized_scope(quantize: bool) -> Iterator[bool]:
    """larq's `quantized_scope` (whether a `QuantizedVariable` reads as its quantized value),
    restoring the previous state also when the code inside raises; `install()` puts it in
    `larq.context`, where larq's layers look it up.

    Examples:
        >>> import larq as lq
        >>> try:
        ...     with lq.context.quantized_scope(True):
        ...         raise RuntimeError("a layer failed")
        ... except RuntimeError:
        ...     pass
        >>> lq.context.should_quantize()
        False
    """
    import larq.context

    previous = larq.context.should_quantize()
    larq.context._quantized_scope.should_quantize = quantize
    try:
        yield quantize
    finally:
        larq.context._quantized_scope.should_quantize = previous


def _emitting_self(record: logging.LogRecord):
    """`self` of the frame that logged `record` (a larq layer's `__init__`), or None."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if (
            frame.f_lineno == record.lineno
            and code.co_name == record.funcName
            and code.co_filename == record.pathname
        ):
            return frame.f_locals.get("self")
        frame = frame.f_back
    return None


def _is_adaste(quantizer) -> bool:
    # Imported here: adaste_tf.quantizers imports TensorFlow and larq, this module neither.
    from adaste_tf.quantizers import AdaSTE

    return isinstance(quantizer, AdaSTE)
