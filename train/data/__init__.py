"""Generic training data helpers; each task's readers live in ``edgeimg.train.tasks.<task>``.

:mod:`~edgeimg.train.data.batches` (per-epoch order of ``PyDataset`` batches) and
:mod:`~edgeimg.train.data.classes` (the ``--num-classes`` / ``--classes`` guard).
"""
