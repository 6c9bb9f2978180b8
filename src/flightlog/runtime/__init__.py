"""The recording runtime: tasks, workflows, steps and runs."""
