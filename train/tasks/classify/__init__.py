"""The classify task of training: one label per image.

Readers (:mod:`.data`: CIFAR-10 batches, MNIST-style idx files, class folders), augmentation
(:mod:`.augment`, :mod:`.pipeline` for ``tf.data``, :mod:`.batches` for other backends), model
families (:mod:`.models`: cifar_cnn, mobilenet, edgenet), accuracy and the confusion matrix
(:mod:`.evaluate`), the contract it writes (:mod:`.contract`), the loop (:mod:`.train`) and
``edgeimg train classify`` (:mod:`.cli`).
"""

from edgeimg.train.tasks import TrainTask, register_train_task
from edgeimg.train.tasks.classify import cli

TRAIN_TASK = register_train_task(
    TrainTask(
        name="classify",
        add_parser=cli.add_parser,
        run=cli.run,
        description="image classifier (softmax over class names)",
    )
)
