"""The vgg16 plugin: VGG16 and VGG19 with the keras.applications layout."""
