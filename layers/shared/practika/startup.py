"""A container's start-up without the garbage collector walking the heap it is building.

A cold start allocates a few hundred thousand objects that live as long as the container
(botocore's service models, pydantic's validators, Powertools' routes). CPython's cyclic
collector runs on allocation counts, so it walks that growing heap again and again while
it is built: 230-330 ms of a 1.0-1.3 s cold start, counted with `gc.callbacks` (see
bench/README.md), and none of those objects is garbage.

So every handler module imports this module first, which stops collection, and calls
`finished()` as its last statement: everything loaded so far moves to the permanent
generation (`gc.freeze`), where later collections never scan it again, and collection
starts again for what the invocations allocate.
"""

import gc

gc.disable()


def finished() -> None:
    """End of a handler module's import: keep what start-up built out of every later collection."""
    gc.freeze()
    gc.enable()
