"""The alexnet plugin: BVLC's Caffe AlexNet (with channel groups) and the single-tower variant."""
