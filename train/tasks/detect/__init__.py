"""The detect task of training: boxes with classes, the centernet detector family.

Readers (:mod:`.data`: MOTChallenge, YOLO, COCO JSON, Pascal VOC, the synthetic scene),
box-preserving augmentation (:mod:`.augment`), targets (:mod:`.targets`), input pipelines
(:mod:`.pipeline` for ``tf.data``, :mod:`.batches` for other backends), the model
(:mod:`.models`) and its losses (:mod:`.losses`), COCO AP through the runtime's decoder
(:mod:`.evaluate`), the contract it writes (:mod:`.contract`), the loop (:mod:`.train`), and
``edgeimg train detect`` / ``edgeimg train evaluate`` (:mod:`.cli`).
"""

from edgeimg.train.tasks import TrainCommand, TrainTask, register_train_task
from edgeimg.train.tasks.detect import cli

TRAIN_TASK = register_train_task(
    TrainTask(
        name="detect",
        add_parser=cli.add_parser,
        run=cli.run,
        extra_commands=(TrainCommand("evaluate", cli.add_evaluate_parser, cli.run_evaluate),),
        keras_modules=("edgeimg.train.tasks.detect.losses",),
        description="single-shot anchor-free detector (centernet family)",
    )
)
