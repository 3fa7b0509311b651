"""Training larq-style networks (`adaste_tf.zoo.larq_nets`) the ways a larq user would: AdaSTE
with its own optimizer on the binary kernels beside Adam on the rest, AdaSTE under Adam (the
drop-in), `ste_sign` + `weight_clip` under Adam, and `ste_sign` kernels under larq's Bop.

A method is a name and, after a colon, the parts it changes from its defaults
(`"adaste:decay=0,init=glorot"`), so one part at a time can be varied against the same seeds.

Examples:
    >>> method = parse_method("adaste:init=glorot,lr=3e-4")
    >>> method.name, method.options["init"], method.options["lr"], method.options["decay"]
    ('adaste', 'glorot', 0.0003, 1.0)
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from adaste_tf import initializers, optimizers, validation
from adaste_tf.callbacks import RelaxationScheduler
from adaste_tf.quantizers import AdaSTE
from adaste_tf.zoo import larq_nets

import larq as lq
import tensorflow as tf

__all__ = ["METHODS", "ACTIVATIONS", "Method", "parse_method", "build", "compile_for", "run"]

ACTIVATIONS = ("binary", "real")

# Each method's options and their defaults. Shared by all: the network's BatchNorm ("affine":
# scale and center, as larq-zoo; "plain": neither) and its first and last layers ("real" or
# "binary"), and the learning rate of Adam (cosine decay over the run).
_NETWORK = {"bn": "affine", "first_last": "real", "lr": 1e-3}
METHODS: dict[str, dict[str, Any]] = {
    # AdaSTE with its optimizer on the binary kernels (AdaSTEMomentum through CaseOptimizer),
    # Adam on the rest. `scale` multiplies the official gradient scale (10 x train size)^2;
    # `init` is the latent magnitude (RandomSign) or "glorot"; `kernel_lr` AdaSTEMomentum's
    # learning rate (cosine, or constant with schedule=constant); `rest` what trains the other
    # weights: "adam", or "momentum" (AdaSTEMomentum for every weight, as the all-binary recipe).
    "adaste": {
        **_NETWORK,
        "variant": "official",
        "init": 10.0,
        "decay": 1.0,
        "kernel_lr": 1e-3,
        "schedule": "cosine",
        "scale": 1.0,
        "rest": "adam",
    },
    # The drop-in under Adam: "adaste" kernels (the bounded rule), RelaxationScheduler(), Adam
    # for every weight.
    "adaste_adam": {**_NETWORK, "variant": "bounded"},
    # larq's usual estimator: ste_sign kernels with weight_clip, Adam for every weight.
    "ste_sign": dict(_NETWORK),
    # ste_sign kernels under larq's Bop (its defaults, the Bop paper's CIFAR-10 settings), Adam
    # on the rest, through CaseOptimizer.
    "bop": {**_NETWORK, "threshold": 1e-8, "gamma": 1e-4},
}


@dataclasses.dataclass(frozen=True)
class Method:
    """A method name and its options (defaults filled in).

    Examples:
        >>> Method("bop", dict(METHODS["bop"])).label
        'bop'
    """

    name: str
    options: dict[str, Any]

    @property
    def label(self) -> str:
        changed = {k: v for k, v in self.options.items() if METHODS[self.name][k] != v}
        return self.name + (
            "" if not changed else ":" + ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
        )


def parse_method(spec: str) -> Method:
    """`"name"` or `"name:key=value,..."` into a `Method`; unknown names and keys are errors.

    Examples:
        >>> parse_method("ste_sign:bn=plain").options["bn"]
        'plain'
    """
    name, _, rest = str(spec).partition(":")
    validation.choice("method", name, METHODS, owner="parse_method")
    options = dict(METHODS[name])
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in options:
            raise ValueError(
                f"parse_method: method {name!r} has no option {key!r}; its options are "
                f"{', '.join(sorted(options))} (got {spec!r})."
            )
        default = options[key]
        options[key] = value if isinstance(default, str) or value == "glorot" else float(value)
    return Method(name, options)


def build(
    network: str,
    method: Method,
    activations: str,
    *,
    seed: int = 0,
    width: float = 1.0,
    num_classes: int = 10,
    input_shape=(28, 28, 1),
) -> tf.keras.Model:
    """The `network` (see `larq_nets.NETWORKS`) with the kernels `method` trains, and binary or
    real activations.

    Examples:
        >>> model = build("birealnet", parse_method("adaste"), "binary", width=0.25)
        >>> type(model.get_layer("stage1_block1_binary").kernel_quantizer).__name__
        'AdaSTE'
    """
    validation.choice("network", network, larq_nets.NETWORKS, owner="build")
    validation.choice("activations", activations, ACTIVATIONS, owner="build")
    o = method.options
    kwargs: dict[str, Any] = {
        "input_quantizer": "ste_sign" if activations == "binary" else None,
        "batchnorm_affine": validation.choice("bn", o["bn"], ("affine", "plain")) == "affine",
        "binarize_first_last": validation.choice("first_last", o["first_last"], ("real", "binary"))
        == "binary",
        "width": width,
    }
    if method.name == "adaste":
        kwargs["kernel_quantizer"] = AdaSTE(variant=o["variant"])
        if o["init"] != "glorot":
            kwargs["kernel_initializer"] = initializers.RandomSign(float(o["init"]), seed=seed)
    elif method.name == "adaste_adam":
        kwargs["kernel_quantizer"] = AdaSTE(variant=o["variant"])
    else:
        kwargs["kernel_quantizer"] = "ste_sign"
        # Bop writes +-1 itself; the latent weights of ste_sign under Adam are clipped.
        kwargs["kernel_constraint"] = "weight_clip" if method.name == "ste_sign" else None
    builder = larq_nets.quicknet if network == "quicknet" else larq_nets.birealnet
    return builder(input_shape, num_classes, **kwargs)


def compile_for(
    model: tf.keras.Model,
    method: Method,
    *,
    total_steps: int,
    train_size: int,
    jit_compile: bool = True,
) -> list[tf.keras.callbacks.Callback]:
    """Compile `model` with `method`'s optimizer; return the callbacks its fit needs.

    Examples:
        >>> model = build("quicknet", parse_method("adaste"), "binary", width=0.25)
        >>> callbacks = compile_for(model, parse_method("adaste"), total_steps=10,
        ...                         train_size=1000)
        >>> [type(c).__name__ for c in callbacks]
        ['RelaxationScheduler']
    """
    o = method.options

    def cosine(lr):
        return tf.keras.optimizers.schedules.CosineDecay(float(lr), decay_steps=max(total_steps, 1))

    adam = tf.keras.optimizers.legacy.Adam(cosine(o["lr"]))
    callbacks: list[tf.keras.callbacks.Callback] = []
    if method.name == "adaste":
        kernel_lr = cosine(o["kernel_lr"]) if o["schedule"] == "cosine" else float(o["kernel_lr"])
        kernels = optimizers.AdaSTEMomentum(
            kernel_lr,
            decay=float(o["decay"]),
            gradient_scale=float(o["scale"]) * optimizers.official_gradient_scale(train_size),
        )
        if validation.choice("rest", o["rest"], ("adam", "momentum")) == "momentum":
            optimizer: Any = kernels
        else:
            optimizer = lq.optimizers.CaseOptimizer(
                (optimizers.is_adaste_variable, kernels), default_optimizer=adam
            )
    elif method.name == "bop":
        bop = lq.optimizers.Bop(threshold=float(o["threshold"]), gamma=float(o["gamma"]))
        optimizer = lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, bop), default_optimizer=adam
        )
    else:
        optimizer = adam
    if method.name.startswith("adaste"):
        callbacks.append(RelaxationScheduler())
    model.compile(
        optimizer,
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return callbacks


def run(
    network: str,
    method: Method,
    activations: str,
    data,
    *,
    seed: int = 0,
    epochs: int = 10,
    batch_size: int = 128,
    width: float = 1.0,
    jit_compile: bool = True,
    verbose: int = 0,
) -> tuple[dict[str, Any], tf.keras.Model]:
    """Train one configuration on `data` = ((x_train, y_train), (x_test, y_test)) and return
    its record (test accuracy, training curve, wall time) and the trained model.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.random((64, 28, 28, 1), np.float32); y = rng.integers(0, 10, 64)
        >>> record, _ = run("quicknet", parse_method("adaste"), "binary", ((x, y), (x, y)),
        ...                 epochs=1, batch_size=32, width=0.25)
        >>> sorted(record)[:4]
        ['activations', 'beta', 'epochs', 'loss']
    """
    (x, y), (x_test, y_test) = data
    tf.keras.utils.set_random_seed(seed)
    model = build(network, method, activations, seed=seed, width=width)
    steps = epochs * -(-len(x) // batch_size)
    callbacks = compile_for(
        model, method, total_steps=steps, train_size=len(x), jit_compile=jit_compile
    )
    start = time.perf_counter()
    history = model.fit(
        x, y, batch_size=batch_size, epochs=epochs, callbacks=callbacks, verbose=verbose
    )
    wall = time.perf_counter() - start
    _, test_accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    record = {
        "network": network,
        "method": method.label,
        "activations": activations,
        "seed": seed,
        "epochs": epochs,
        "train_size": len(x),
        "test_accuracy": float(test_accuracy),
        "train_accuracy": [float(a) for a in history.history["accuracy"]],
        "loss": [float(v) for v in history.history["loss"]],
        "wall_s": round(wall, 1),
    }
    if "beta" in history.history:
        record["beta"] = [float(b) for b in history.history["beta"]]
    return record, model
