"""Resource collections (hadrosaur's API on flightlog's stores): cached computations keyed
by an identifier in a named collection, with status, result, arguments, times, errors, logs
and files. See :mod:`flightlog.resources.engine` for the claim protocol."""
