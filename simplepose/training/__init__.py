"""Training: a frozen config built once, the parts built from it, the loop, validation. ::

    config.build_config(argv) -> (TrainConfig, ResumePoint | None)   parse, resume merge, data, checks
    fit.Training(cfg, build.build_parts(cfg, resume, workers), resume, rundir).fit() -> last metrics row
        build          seed, data + metadata checks, codec, transforms, shards, loaders, model,
                       casting, optimizer + LR schedule, kvstore, resume surgery
        loop           one epoch: forward, weighted L2 loss, backward, Adam update (Parts in, stats out)
        guards         NaN policy, Ctrl-C and SIGTERM;   distributed: kvstore keys, flags, BatchNorm averaging
        validation     loss, HeatmapAccuracy, COCO AP on ground-truth boxes
        state          what checkpoints carry between processes
        eta            the time the run has left, from its measured epochs and validations
        report         the log's words: an epoch's line, what was skipped, the run's last line

The flags' defaults, bounds and checks are ``simplepose.config.TrainConfig`` (no MXNet, no argparse). The
run directory (lock, checkpoint names, metrics.jsonl, best, superseded/, resume lookup) is
``simplepose.rundir``; ``fit`` writes through it. ``loader`` (MXNet's DataLoader with single-threaded OpenCV
workers), ``metrics`` (HeatmapAccuracy) and ``transfer`` (weights from another model, ``--init-from``) serve them.

Nothing is imported here.
"""
