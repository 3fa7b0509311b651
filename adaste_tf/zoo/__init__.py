"""The experiment harness: the paper's networks, their data splits, training recipes and CLI,
and plots.

It builds on the add-on (`adaste_tf`: quantizer, schedules, callbacks, data loaders, export) and
is never imported by it, as larq-zoo builds on larq: `import adaste_tf` loads none of this.

- `adaste_tf.zoo.models`: `mlp`, `vgg16`, `resnet18`, as the official code builds them;
- `adaste_tf.zoo.data`: train / validation / test splits, CIFAR-10/100 with the official
  augmentation;
- `adaste_tf.zoo.train`: the `fast` and `official` recipes and the training command line
  (`python -m adaste_tf.zoo.train`, or `adaste-train`);
- `adaste_tf.zoo.plots`: the one matplotlib set-up of the CLI's curves and the benchmarks.

Examples:
    >>> from adaste_tf.zoo import models
    >>> models.mlp((28, 28), 10, hidden=(32,)).count_params() > 0
    True
"""
