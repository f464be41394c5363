"""Main job (placeholder until the rock-paper-scissors demo): a convnet on the built-in digits."""

from __future__ import annotations

import argparse

import scratchnet as sn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--backend", choices=sn.kernels.BACKENDS, default=None)
    args = parser.parse_args()
    if args.backend:
        sn.set_backend(args.backend)
    x, y = sn.datasets.load_digits("train")
    x_test, y_test = sn.datasets.load_digits("test")
    model = sn.models.digits_cnn()
    model.compile(optimizer=sn.optimizers.Adam(3e-3),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.summary()
    model.fit(x, y, epochs=args.epochs, batch_size=32, validation_data=(x_test, y_test))
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"digits convnet, backend {sn.get_backend()}: test loss {loss:.4f}, "
          f"test accuracy {acc:.2%}")


if __name__ == "__main__":
    main()
