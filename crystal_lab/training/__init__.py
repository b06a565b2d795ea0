"""Training: the loop (:mod:`.loop`, ``train``), its batches (:mod:`.batches`), its run folder
(:mod:`.run_files`: checkpoints, log, lock), its progress bar (:mod:`.run_progress`) and
several processes (:mod:`.distributed`: torchrun / DDP).
"""
