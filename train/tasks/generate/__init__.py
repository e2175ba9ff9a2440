"""Image generation ("generate"): the seed's DCGAN and a convolutional VAE, class-conditional.

Modules: ``data`` (datasets and image folders), ``models`` (generator, discriminator, VAE
encoder/decoder), ``train`` (``train_generator``: the alternating GAN updates and the ELBO,
sample grids, checkpoints) and ``cli`` (``edgeimg train generate``). Quality (FID-FMNIST) is
measured with :mod:`edgeimg.export.fid` and ``python -m edgeimg.bench.generate``.
"""

from edgeimg.train.tasks import TrainTask, register_train_task
from edgeimg.train.tasks.generate import cli

TRAIN_TASK = register_train_task(
    TrainTask(
        name="generate",
        add_parser=cli.add_parser,
        run=cli.run,
        description="image generation (DCGAN, VAE; class-conditional)",
    )
)
