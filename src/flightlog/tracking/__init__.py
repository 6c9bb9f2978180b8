"""The tracking layer: values and files recorded with steps (``track``, ``attach``), metrics
from environment variables, shell steps, and trackers that export what runs record (MLflow,
custom sinks). It sits above the runtime, which calls it through ``RunHooks`` only."""
