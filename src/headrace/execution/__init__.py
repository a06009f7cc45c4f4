"""Turning a run into work: the pure plan, the executor seam and its backends."""
