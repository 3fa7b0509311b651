"""What the bounded rule's sum of squares costs in a jit-compiled step, form by form.

    python benchmarks/sum_of_squares.py --out docs/results/sum_of_squares.json
    python benchmarks/sum_of_squares.py --network mlp_binact --repeats 10 --out /tmp/sos.json

The bounded rule needs the RMS of each kernel's gradient before its pass can start
(`ops._sum_of_squares`, docs/performance.md, "The sum of squares"). This builds the models of
`step_time.py` (`--network`, Adam, `jit_compile=True`) with the bounded rule computing that sum
in each of several forms, beside `ste_sign` + `weight_clip` (the baseline) and the `paper` rule
(no sum at all), builds them in `step_time.py`'s order (`build_in_order`) and times them
interleaved in one process as it does:

- `rows`: the package's form with TensorFlow 2.21, the squares of an `[8, size / 8]` view
  summed over its major axis, then the vector summed;
- `neighbours`: its form with earlier TensorFlow versions (and in earlier releases), two levels
  of sums of 8 neighbours (the minor axis), then the rest summed;
- `neighbours_deep`: sums of 8 neighbours down to a few values (6 levels), in one step;
- `rows_twice`: two levels of rows (64 inputs per output), then the rest;
- `plain`: `reduce_sum(square(dy))`;
- `none`: no sum: the RMS replaced by a constant (a wrong rule, a floor for the cost).

Every form but `none` returns the same sum to float rounding. Each model's rule is traced anew
(`step_time.build_with_ops`). Writes JSON (per configuration the median step time, its ratio to
the baseline, the quartiles of the per-round ratios and each model's ratio) and a PNG of the
ratios.
"""

from functools import partial

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import ops

import tensorflow as tf
from step_time import BASELINE, forms_parser, time_forms


def plain(g: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.square(g))


def none(g: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.size(g), g.dtype)  # RMS 1, whatever dy is: for timing only


FORMS = {
    "rows": partial(ops._tree_sum_of_squares, levels=1, axis=0),
    "neighbours": partial(ops._tree_sum_of_squares, levels=2, axis=1),
    "neighbours_deep": partial(ops._tree_sum_of_squares, levels=6, axis=1),
    "rows_twice": partial(ops._tree_sum_of_squares, levels=2, axis=0),
    "plain": plain,
    "none": none,
}


def main():
    args = forms_parser(
        __doc__, FORMS, "mlp", repeats=30, steps=10, out="docs/results/sum_of_squares.json"
    ).parse_args()
    configurations = {BASELINE: (BASELINE, {}), "paper": ("adaste:paper", {})}
    for form in args.forms:
        configurations[f"bounded:{form}"] = ("adaste:bounded", {"_sum_of_squares": FORMS[form]})
    time_forms(configurations, args)


if __name__ == "__main__":
    main()
