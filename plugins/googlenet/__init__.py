"""The googlenet plugin: GoogLeNet (Inception v1) as BVLC's Caffe model."""
