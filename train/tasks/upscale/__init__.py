"""Super-resolution ("upscale"): MATLAB bicubic, Y-channel metrics, ESPCN/FSRCNN, training.

Modules: ``resize`` (MATLAB ``imresize`` bicubic), ``color`` (``rgb2ycbcr``), ``metrics`` (PSNR
and SSIM as the SR papers report them), ``data`` (patch pipeline, test-set reader), ``models``
(ESPCN, FSRCNN), ``evaluate`` (per-set tables beside bicubic), ``train`` (``train_upscale``),
``contract`` (the contract it writes) and ``cli`` (``edgeimg train upscale``).
"""

from edgeimg.train.tasks import TrainTask, register_train_task
from edgeimg.train.tasks.upscale import cli

TRAIN_TASK = register_train_task(
    TrainTask(
        name="upscale",
        add_parser=cli.add_parser,
        run=cli.run,
        keras_modules=("edgeimg.train.tasks.upscale.models",),
        description="super-resolution on luminance (ESPCN, FSRCNN)",
    )
)
