"""The problem layer: compile (Scenario -> Problem) and the Problem form every engine reads."""
