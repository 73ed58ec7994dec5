"""The hanzi plugin: metadata only; the network lives in ``model.py``."""

from __future__ import annotations

from hub_core.hub.plugin import Paper, Variant
from hub_core.vision import ImageClassifierPlugin

INPUT_SHAPE = (64, 64, 1)


class HanziPlugin(ImageClassifierPlugin):
    """The notes' network for Chinese characters: two convolutions and a Dense classifier, 64x64 grayscale."""

    name = "hanzi"
    description = ("Chinese character classifier of the notes' chapter 8: two 3x3 conv + max-pool stages and one "
                   "Dense layer on 64x64 grayscale; trained here on printed characters, not handwriting.")
    license = "Apache-2.0"
    paper = Paper(
        title="机器学习进阶笔记之八 | TensorFlow与中文手写汉字识别 (TensorFlow and handwritten Chinese character recognition)",
        url="https://zhuanlan.zhihu.com/p/24899387",
        authors="Burness (UCloud)",
        year=2017,
    )
    default_variant = "hanzi_2conv"
    model_module = "hub_plugins.hanzi.model"
    small_size = 16
    variants = (
        Variant(
            name="hanzi_2conv",
            input_shape=INPUT_SHAPE,
            num_params=8_211_316,
            description="conv 32 / pool / conv 64 / pool / Dense, 64x64x1, 500 classes by default (the notes: 3,755 "
            "CASIA-HWDB classes); no pretrained weights (random init); for hub.data.characters' printed "
            "characters, not handwriting",
            options={"input_shape": INPUT_SHAPE},
            preprocessing="unit",  # 0..1, the notes' convert_image_dtype
        ),
    )

    def small_input_shape(self, variant: Variant) -> tuple[int, ...]:
        """``(16, 16, 1)``: grayscale, as the variant."""
        return (self.small_size, self.small_size, 1)
