"""`make bench`: speed, bytes and cost of the pipeline against the naive baseline, in one run."""
