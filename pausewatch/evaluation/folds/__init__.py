"""The folds of one (facility, bucket): one per fact the bucket establishes.

``BucketAccumulator`` (``pausewatch.evaluation.bucket``) reads each report once
(``reading``: its slice of the bucket; for a usage report, its node and devices), hands the
reading to the folds it concerns, and assembles their results into ``BucketFacts``:

- ``enrolment``: each report's key, place, lateness and period against the inventory;
- ``coverage``: node and device coverage, continuity gaps and timeouts, missing devices, and
  what ``min_inventory_coverage`` tolerates;
- ``compute``: the lower, best and upper compute bounds, and unknown models;
- ``plausibility``: invalid telemetry, counters that ran backwards, power against activity;
- ``node_energy``: the energy each node reports, and the stretches it covers;
- ``meters``: each declared meter's valid energy and coverage, and one scope's readings;
- ``balance``: the energy balance of every meter scope (from ``meters`` and ``node_energy``);
- ``labels``: each node's periods labelled by the classifier, seconds per label;
- ``accounting``: the schedulers' job accounting against the usage reports;
- ``integrity``: the findings the folds flag per report and ingest's chain and freshness
  findings, merged per (id, severity, subject).

Each fold keeps only what its fact needs; sums are ``math.fsum`` and findings sorted, so the
facts are a pure function of the set of inputs."""
