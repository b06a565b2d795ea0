"""One progress bar for a whole training run (tqdm): the epochs done of ``epochs``, or with a time
budget the seconds used of it, with the epoch and the loss beside it. In a saved notebook a run
leaves one line, not one per epoch."""
from __future__ import annotations

import math
import time


class RunBar:
    """The bar of one run. ``tick`` now and then during an epoch, ``epoch_done`` after each,
    ``finish`` at the end: a planned stop (the budget, ``max_steps``) or a completed run ends it
    full; an interrupted one (a signal, an error) ends it where it was."""

    def __init__(self, epochs: int, first_epoch: int = 0, max_minutes: float | None = None,
                 show: bool = True):
        from tqdm.auto import tqdm

        self.timed, self.t0, self.shown = max_minutes is not None, time.time(), 0.0
        if self.timed:
            self.bar = tqdm(total=max(1, math.ceil(60 * max_minutes)), desc="training",
                            disable=not show,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} s "
                                       "[{elapsed}<{remaining}{postfix}]")
        else:
            self.bar = tqdm(total=epochs, initial=first_epoch, desc="training", unit="epoch",
                            disable=not show)

    def tick(self, epoch: int, loss: float | None = None) -> None:
        """Show the time used (with a budget), the epoch under way and the latest loss."""
        if self.timed:
            self.bar.update(max(0, min(self.bar.total, int(time.time() - self.t0)) - self.bar.n))
        postfix = {"epoch": epoch + 1} if self.timed else {}
        if loss is not None:
            postfix["loss"] = f"{loss:.3f}"
        self.bar.set_postfix(postfix, refresh=False)
        if time.time() - self.shown > 0.5:   # redrawn twice a second at most
            self.bar.refresh()
            self.shown = time.time()

    def epoch_done(self, epoch: int, loss: float) -> None:
        """One more epoch done (``epoch`` of them in all), its mean loss."""
        if not self.timed:
            self.bar.update(1)
        self.tick(epoch, loss)

    def finish(self, planned: bool, at_budget: bool = False) -> None:
        """Close the bar; ``planned`` (a completed run or a planned stop) ends it full: at the
        budget the time is used up, otherwise what was done becomes the total."""
        bar = self.bar
        if planned and not bar.disable:
            target = bar.total if at_budget else max(1, bar.n)
            if target != bar.total:   # a new total; the elapsed time stays
                start = bar.start_t
                bar.reset(total=target)
                bar.start_t = start
            bar.update(target - bar.n)
        bar.close()
