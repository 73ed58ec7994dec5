"""Weight sets of the resnet plugin: the keras-applications ImageNet files.

The files are the ones ``keras.applications.ResNet50/101/152`` download
(legacy Keras h5, layers matched by order), with the md5 hashes published in
``keras/src/applications/resnet.py``. The CIFAR variants have no published
weights.
"""

from __future__ import annotations

from hub_core.hub.plugin import WeightFile, WeightSet

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# md5 of the (top, notop) files, from keras/src/applications/resnet.py WEIGHTS_HASHES.
MD5 = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}


def imagenet(variant: str) -> WeightSet:
    """The keras-applications ImageNet weight set of ``variant`` (top and no-top files)."""
    top_md5, notop_md5 = MD5[variant]
    stem = f"{BASE_URL}{variant}_weights_tf_dim_ordering_tf_kernels"
    return WeightSet(
        name="imagenet",
        files=(
            WeightFile(url=f"{stem}.h5", md5=top_md5, role="top"),
            WeightFile(url=f"{stem}_notop.h5", md5=notop_md5, role="notop"),
        ),
        license="MIT",
        description="ImageNet-1k (ILSVRC 2012) classification, converted from Kaiming He's Caffe models by keras-applications.",
        format="keras_h5",
        num_classes=1000,
        note="Legacy Keras h5 as published by keras-applications; only md5 hashes are published.",
    )
