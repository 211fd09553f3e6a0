"""Phase kind codes shared by the workload and every model (small ints for the hot path)."""

CPU, IO, SLEEP, BLOCK, NATIVE, YIELD, SPAWN = range(7)
KIND_NAMES = ("cpu", "io", "sleep", "block", "native", "yield", "spawn")
DONE = -1  # what a model sees when a task has no phases left
