"""Style transfer ("stylize"): a feed-forward stylizer per style and Gatys' optimisation.

Modules: ``models`` (the transformation network, its instance norm and upsampling layers),
``data`` (content photos, the style image), ``gatys`` (the per-image optimisation, the quality
reference), ``train`` (``train_stylize`` and the comparison with Gatys), ``contract`` and
``cli`` (``edgeimg train stylize``). The losses and loss networks are
:mod:`edgeimg.export.perceptual` (the export's INT8 gate measures with them too).
"""

from edgeimg.train.tasks import TrainTask, register_train_task
from edgeimg.train.tasks.stylize import cli

TRAIN_TASK = register_train_task(
    TrainTask(
        name="stylize",
        add_parser=cli.add_parser,
        run=cli.run,
        keras_modules=("edgeimg.train.tasks.stylize.models",),
        description="feed-forward style transfer (one network per style)",
    )
)
