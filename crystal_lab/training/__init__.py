"""Training: what defines a run (:mod:`.config`, ``TrainConfig``), the run in memory (:mod:`.run`),
the loop (:mod:`.loop`, ``train``), its batches (:mod:`.batches`), its run folder
(:mod:`.run_files`: checkpoints, log, lock), its progress bar (:mod:`.run_progress`) and the
objective as it runs, compiled and in several processes (:mod:`.distributed`: torchrun / DDP).
"""
