"""Issue 12 on the local stack: `make demo`'s polling-bot scene (local/bluegreen_local/polling_scene.py).

Two consumers, one per color, share a fake Telegram fed throughout a promotion (the lease moves to green,
the bake ends only once green holds it) and a rollback (the lease moves back): every update is handled
exactly once, the two colors never hold the lease at once, and both colors did some of the work.
"""

from __future__ import annotations

import pytest
from bluegreen_local.polling_scene import BLUE, GREEN, PollingScene

from tests.e2e.conftest import running_stack

pytestmark = pytest.mark.e2e


def test_the_polling_scene_hands_over_with_no_duplicate_loss_or_overlap() -> None:
    with running_stack(app=None, update_seconds=0.3, tick_seconds=0.5) as stack:
        tally = PollingScene(stack).run()
    assert tally.failures == []
    assert tally.produced > 0
    assert tally.duplicates == 0 and tally.lost == 0
    assert tally.handled[BLUE] + tally.handled[GREEN] == tally.produced
    assert tally.handled[BLUE] > 0 and tally.handled[GREEN] > 0
    assert tally.overlap_seconds == 0.0
    assert tally.conflicts == 0
