"""The resnet plugin: ResNet-50/101/152 (keras.applications layout) and CIFAR pre-activation ResNets."""
