"""Detector modules: one per alert kind, plus the shared signals they read.

How a kind plugs in
-------------------
A module is a subclass of :class:`detectors.kinds.base.Module` in its own file here, and one
line in :data:`detectors.kinds.registry.MODULES`. It declares:

- ``name`` and ``layout``: the float slots it keeps per device, as a
  :class:`detectors.layout.Layout` (names, sizes, cold-start values, what a backward clock jump
  does to each, a version). The engine lays every registered layout side by side into one
  ``array('d')`` per device; ``self.slot("x")`` is the offset of this module's slot ``x`` and
  ``self.slot("x", "other")`` one of another module's. Snapshots carry a fingerprint of the
  whole composed layout, so adding, removing, resizing or reordering slots (or bumping a
  version) makes old snapshots start afresh instead of being misread;
- ``kind`` (the :class:`messages.kinds.AnomalyKind` it raises, if any), ``section`` (its
  :class:`detectors.config.EngineConfig` field), ``metric`` (whose readings show the condition is
  observable, for ``tick()``'s staleness), ``multiday`` and ``self_resolving`` (lifecycle hints);
- its rule: methods the engine (or another module) calls with a device and a reading, which
  read ``self.c.<section>``, update the device's slots and signal the
  :class:`detectors.alerts.AlertBook` (``self.book``);
- its explanation: :meth:`~detectors.kinds.base.Module.explain` or ``title``.

``setup()`` runs once all modules of an engine exist (look up peers and offsets there);
``init_state()`` sets cold-start values that depend on the configuration.

Routing: :mod:`detectors.reading_path` (compiled) runs the per-reading path: data quality,
routing by metric, the activity context and the heart-rate baselines, and it calls the rules'
entry points by role (wired in ``Engine.__init__``) when a cheap guard says their outcome can
differ from "nothing happens". A kind with a new kind of input wires its entry point there.
"""
