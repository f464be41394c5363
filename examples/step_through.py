"""One training step of the rock-paper-scissors convnet, spelled out for a debugger.

Run it under a debugger (PyCharm: the "step through" run configuration, Debug) and put a breakpoint
on the ``return`` line of :func:`one_training_step`: the variables pane then lists every
intermediate of the step by name, from the input batch to the Adam moments. Good places to step
*into* (see docs/debugging.md): ``conv3.backward`` (Conv2D's backward, then the NumPy kernel
``conv2d_backward_kernel``) and ``optimizer.apply`` (``Adam.update``, one formula a line).

It does exactly what ``model.train_step(x, y)`` does, phase by phase, with the ``numpy`` backend so
that every kernel is plain Python you can step into. ``tests/test_step_through.py`` checks that
the gradients equal ``model.loss_and_grads`` and that a debugger stops in Conv2D's backward and in
Adam's update.

    python examples/step_through.py
"""

from __future__ import annotations

import numpy as np

import scratchnet as sn

IMAGE_SIZE = 32
BATCH_SIZE = 8


def one_training_step(seed: int = 0) -> dict[str, object]:
    """Forward, loss, backward and the Adam update on one batch; returns every local by name."""
    sn.set_backend("numpy")  # the readable kernels: "step into" lands in NumPy code

    # The batch and the model (the same rps_cnn the main job trains).
    x, y = sn.datasets.load_rps("train", image_size=IMAGE_SIZE, seed=seed, num_samples=BATCH_SIZE)
    model = sn.models.rps_cnn((IMAGE_SIZE, IMAGE_SIZE, 3), seed=seed)
    optimizer = sn.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=optimizer, loss=sn.losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    conv1, pool1, conv2, pool2, conv3, pool3, flatten, dropout, dense1, dense2 = model.layers
    weights_before = model.get_weights()

    # 1. Forward pass, layer by layer, in training mode (dropout active).
    conv1_out = conv1.forward(x, training=True)  # (8, 30, 30, 16) ReLU(conv)
    pool1_out = pool1.forward(conv1_out, training=True)  # (8, 15, 15, 16)
    conv2_out = conv2.forward(pool1_out, training=True)  # (8, 13, 13, 32)
    pool2_out = pool2.forward(conv2_out, training=True)  # (8, 6, 6, 32)
    conv3_out = conv3.forward(pool2_out, training=True)  # (8, 4, 4, 64)
    pool3_out = pool3.forward(conv3_out, training=True)  # (8, 2, 2, 64)
    flat = flatten.forward(pool3_out, training=True)  # (8, 256)
    dropped = dropout.forward(flat, training=True)  # (8, 256), a quarter of it zeroed
    hidden = dense1.forward(dropped, training=True)  # (8, 128) ReLU
    probabilities = dense2.forward(hidden, training=True)  # (8, 3) softmax
    logits = dense2.preactivation  # (8, 3) what the softmax received

    # 2. Loss. The last layer is a softmax, so (as in Keras) the cross-entropy reads its logits:
    #    loss_i = logsumexp(logits_i) - logits_i[y_i], and dL/dlogits = (softmax - onehot) / N.
    loss_fn, reads_logits = model.output_loss()
    per_sample_loss = loss_fn.forward(y, logits)  # (8,)
    loss = float(np.mean(per_sample_loss))
    dlogits = loss_fn.backward(y, logits)  # (8, 3)

    # 3. Backward pass, last layer first; each layer fills its Parameter.grad.
    dhidden = dense2.backward_preactivation(dlogits)  # (8, 128) skips the softmax's own backward
    dense2_kernel_grad, dense2_bias_grad = dense2.kernel.grad, dense2.bias.grad  # (128, 3), (3,)
    ddropped = dense1.backward(dhidden)  # (8, 256) through the ReLU, then the matmul
    dense1_kernel_grad, dense1_bias_grad = dense1.kernel.grad, dense1.bias.grad  # (256, 128), (128,)
    dflat = dropout.backward(ddropped)  # (8, 256) the same mask again
    dpool3_out = flatten.backward(dflat)  # (8, 2, 2, 64)
    dconv3_out = pool3.backward(dpool3_out)  # (8, 4, 4, 64) only each window's maximum
    dpool2_out = conv3.backward(dconv3_out)  # (8, 6, 6, 32) step in here: Conv2D's backward
    conv3_kernel_grad, conv3_bias_grad = conv3.kernel.grad, conv3.bias.grad  # (3, 3, 32, 64), (64,)
    dconv2_out = pool2.backward(dpool2_out)  # (8, 13, 13, 32)
    dpool1_out = conv2.backward(dconv2_out)  # (8, 15, 15, 16)
    conv2_kernel_grad, conv2_bias_grad = conv2.kernel.grad, conv2.bias.grad  # (3, 3, 16, 32), (32,)
    dconv1_out = pool1.backward(dpool1_out)  # (8, 30, 30, 16)
    dx = conv1.backward(dconv1_out)  # None: nobody needs dL/d(input images)
    conv1_kernel_grad, conv1_bias_grad = conv1.kernel.grad, conv1.bias.grad  # (3, 3, 3, 16), (16,)
    grads = [p.grad for p in model.params]  # in get_weights() order

    # 4. Update: Adam moves each weight against its gradient (step into optimizer.apply).
    optimizer.apply(model.params)
    weights_after = model.get_weights()
    conv1_kernel_m = optimizer.state["conv2d/kernel/m"]  # first moment, (1 - beta_1) * g after one step
    conv1_kernel_v = optimizer.state["conv2d/kernel/v"]  # second moment, (1 - beta_2) * g**2
    dense2_kernel_m = optimizer.state["dense_1/kernel/m"]
    dense2_kernel_v = optimizer.state["dense_1/kernel/v"]
    conv1_kernel_step = weights_after[0] - weights_before[0]  # about -lr * sign(g) on step 1
    return locals()  # put a breakpoint here and read the variables pane


def main() -> None:
    step = one_training_step()
    print(f"batch {step['x'].shape}, labels {step['y'].tolist()}")
    print(f"logits[0] {np.round(step['logits'][0], 4).tolist()}, loss {step['loss']:.4f}")
    print(f"dlogits[0] {np.round(step['dlogits'][0], 4).tolist()}")
    for name in ("conv1_kernel_grad", "conv3_kernel_grad", "dense2_kernel_grad"):
        print(f"{name:20s} shape {step[name].shape}, |g| max {np.abs(step[name]).max():.3e}")
    print(f"Adam after step {step['optimizer'].iterations}: conv1 kernel m max "
          f"{np.abs(step['conv1_kernel_m']).max():.3e}, v max {step['conv1_kernel_v'].max():.3e}, "
          f"largest weight change {np.abs(step['conv1_kernel_step']).max():.3e}")


if __name__ == "__main__":
    main()
