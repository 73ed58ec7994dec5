"""The inception_resnet_v2 plugin: Inception-ResNet-v2 with the keras.applications layout."""
