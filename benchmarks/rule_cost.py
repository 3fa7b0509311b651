"""What part of AdaSTE's pass costs in a jit-compiled step: writing the gradient, its division,
the rest of the rule's arithmetic.

    python benchmarks/rule_cost.py --out docs/results/rule_cost.json
    python benchmarks/rule_cost.py --variant bounded --repeats 5 --out /tmp/rule_cost.json

Inside a jit-compiled Adam step XLA's CPU backend computes the rule's gradient `(dy * n) / d`
(`ops.scaled_gradient`) in one pass of its own per kernel and writes it, where `ste_sign`'s mask
is copied into both of Adam's moment updates (docs/performance.md). This times, on the models
of `step_time.py` (`--network`, Adam, jit on), the package's rule (`--variant`) beside forms of
the gradient that keep one part of that pass and drop another (wrong gradients, for timing
only, except the two `newton` forms, the rule to an ulp or two):

- `mask`: `ste_sign`'s mask `where(|theta| <= 1, dy, 0)`, which XLA copies into Adam's updates
  as it does `ste_sign`'s: the baseline's structure without its constraint;
- `mask_once`: the same mask written once, in a pass of its own (behind XLA's optimization
  barrier, `tensorflow.compiler.tf2xla.python.xla.optimization_barrier`, a private API): the
  package's structure without its arithmetic, what the write of each gradient costs;
- `divide_once`: `dy / (|theta| + 1)`, written once: one division per weight;
- `terms_once`: the rule's terms `(dy * n) * d`, written once: its arithmetic but the division;
- `newton_once`: `(dy * n) * (1 / d)` with `1 / d` by Newton's iteration from a bit-level first
  guess (three steps), written once: the rule without a division;
- `newton`: the same, not held back: with no division in it XLA copies the whole rule into both
  of Adam's updates, so the gradient is never written and the rule is computed twice.

Each model's rule is traced anew (`step_time.build_with_ops`), the models are built and timed
as `step_time.py` does. Writes JSON (per configuration the median step time, its ratio to
`ste_sign` + `weight_clip`, the quartiles of the per-round ratios and each model's ratio) and
a PNG of the ratios.
"""

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import ops, quantizers

import tensorflow as tf
from step_time import BASELINE, forms_parser, time_forms
from tensorflow.compiler.tf2xla.python import xla


def once(gradient: tf.Tensor) -> tf.Tensor:
    """`gradient`, computed by XLA in a pass of its own and written, read by both of Adam's
    updates: what XLA does with the package's form because of its division."""
    return xla.optimization_barrier(gradient)[0]


def reciprocal(d: tf.Tensor) -> tf.Tensor:
    """`1 / d` for float32 `d > 0` without a division, to an ulp or two: a first guess from the
    bits of `d` (about 12% off), then three of Newton's steps (each squares the relative error).

    Examples:
        >>> d = tf.constant([0.001, 0.5, 3.0])
        >>> bool(tf.reduce_max(tf.abs(reciprocal(d) * d - 1.0)) < 3e-7)
        True
    """
    y = tf.bitcast(tf.constant(0x7EF311C3, tf.int32) - tf.bitcast(d, tf.int32), d.dtype)
    for _ in range(3):
        y = y * (2.0 - d * y)
    return y


def mask(t, g, n, d):
    return tf.where(tf.abs(t) <= 1.0, g, tf.zeros_like(g))


FORMS = {
    "mask": mask,
    "mask_once": lambda t, g, n, d: once(mask(t, g, n, d)),
    "divide_once": lambda t, g, n, d: once(g / (tf.abs(t) + 1.0)),
    "terms_once": lambda t, g, n, d: once((g * n) * d),
    "newton_once": lambda t, g, n, d: once((g * n) * reciprocal(d)),
    "newton": lambda t, g, n, d: (g * n) * reciprocal(d),
}


def scaled_gradient_as(form):
    """A stand-in for `ops.scaled_gradient` that returns `FORMS[form](t, g, n, d)`: the latent
    weights and the gradient in the compute dtype, and the rule's terms."""

    def scaled_gradient(
        theta,
        dy,
        variant,
        alpha,
        beta,
        max_scale,
        flip_reach=ops.DEFAULT_FLIP_REACH,
        scale_from=None,
    ):
        t, g = ops._in_compute_dtype(theta, dy)
        total = dy if scale_from is None else scale_from
        n, d = ops._terms(theta, total, variant, alpha, beta, max_scale, flip_reach, owner=form)
        return tf.cast(FORMS[form](t, g, n, d), dy.dtype)

    return scaled_gradient


def main():
    parser = forms_parser(
        __doc__, FORMS, "mlp_official", repeats=15, steps=5, out="docs/results/rule_cost.json"
    )
    parser.add_argument("--variant", choices=quantizers.VARIANTS, default="paper")
    args = parser.parse_args()
    estimator = f"adaste:{args.variant}"
    configurations = {BASELINE: (BASELINE, {}), args.variant: (estimator, {})}
    for form in args.forms:
        swaps = {"scaled_gradient": scaled_gradient_as(form)}
        configurations[f"{args.variant}:{form}"] = (estimator, swaps)
    time_forms(configurations, args)


if __name__ == "__main__":
    main()
