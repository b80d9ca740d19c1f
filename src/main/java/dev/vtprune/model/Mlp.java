package dev.vtprune.model;

import org.bytedeco.pytorch.Tensor;

/** fc2(act(fc1(x))): the ViT MLP and the vision-to-LM projector share it. */
record Mlp(Linear fc1, Activation act, Linear fc2) {
    Tensor apply(Tensor x) {
        return fc2.apply(act.apply(fc1.apply(x)));
    }
}
