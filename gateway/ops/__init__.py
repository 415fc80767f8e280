"""The live operations page `/ops/` (staff only): a map of drivers, open requests and rides, and counters,
kept live over the user socket `/ws/` by a broadcaster that pushes a snapshot to the staff-only group `ops`."""
