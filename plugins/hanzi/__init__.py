"""The hanzi plugin: the notes' two-convolution network for printed (and handwritten) Chinese characters."""
