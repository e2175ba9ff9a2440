"""The segment task of training: a class for every pixel.

Readers (:mod:`.data`: image folder + label-PNG folder; CamVid ids, Cityscapes trainIds, Pascal
VOC palette PNGs), joint image+mask augmentation (:mod:`.augment`), the ``tf.data`` pipeline
with class weights that ignore void (:mod:`.pipeline`), the edgenet_seg encoder-decoder
(:mod:`.models`), full-resolution IoU evaluation (:mod:`.evaluate`), the contract it writes
(:mod:`.contract`), the loop (:mod:`.train`) and ``edgeimg train segment`` (:mod:`.cli`).
"""

from edgeimg.train.tasks import TrainTask, register_train_task
from edgeimg.train.tasks.segment import cli

TRAIN_TASK = register_train_task(
    TrainTask(
        name="segment",
        add_parser=cli.add_parser,
        run=cli.run,
        description="semantic segmenter (edgenet_seg encoder-decoder)",
    )
)
