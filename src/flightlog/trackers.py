"""Trackers: write-only observers told what runs record (bandsaw's tracker interface).

``flightlog.open(url, trackers=[...])`` attaches them. :class:`Tracker` is the base class;
:class:`MLflowTracker` sends runs to MLflow (the ``flightlog[mlflow]`` extra);
:class:`FileSystemTracker` mirrors them as files in bandsaw's layout. See
:mod:`flightlog.tracking.trackers` for when each method is called and what it receives.
"""

from __future__ import annotations

from .tracking.files import FileSystemTracker
from .tracking.mlflow import MLflowTracker
from .tracking.trackers import Attachment, Attachments, Ids, Tracker

__all__ = ["Attachment", "Attachments", "FileSystemTracker", "Ids", "MLflowTracker", "Tracker"]
