"""The run directory: what a training run writes, owned file by file, and nothing else. ::

    checkpoint   self-describing checkpoints, written atomically; reading one imports no MXNet
    directory    RunDirectory: lock, config.json, metrics.jsonl, checkpoints, best, resume lookup
    files        run-files.json: the files a run owns, and the checkpoint journal
    lock         one run per directory
    tidy         superseded/, previous-DATE-TIME/, leftovers: by ownership, never by name pattern

Nothing is imported here.
"""
