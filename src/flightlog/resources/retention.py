"""Deleting the resources that deleted runs computed, with their folders.

A resource goes with the runs being deleted when one of them claimed its latest computation
(``ResourceRecord.run_id``) and no other run used it (``Store.resource_users``: a fetch inside
a run records the use before it reads). A resource whose computing run went while other runs
used it stays with those runs, and goes with the last of them. What stays:

- a resource that a run which stays used (fetched) or computes it again;
- one being computed (PENDING), and one computed outside any run (or before the store
  recorded which run computed it, schema version 4): no run's deletion takes those;
- a resource that changed since it was judged (computed again, by any run).

Each goes in four moves, so that neither a fetch nor a crash at any moment finds a record
whose folder is gone: the deleting process claims the resource (the compare-and-set of every
computation, against the attempt it judged: fetches now wait for it), looks once more for
runs that used it meanwhile (found: the record is put back as it was), renames the folder out
of the way and removes it, then deletes the record while its claim still holds. A fetch that
records its use after that look waits for the claim, finds the record gone and computes the
resource again. A crash part-way leaves a claim whose process died, which the next fetch takes
over and computes (the rename is atomic: the folder is whole or gone), and at worst a renamed
folder ``.deleting-<ident>-<n>`` beside the collection's resources.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Collection, Iterable
from pathlib import Path

from ..errors import StoreError
from ..model import ResourceRecord, ResourceStatus
from ..stores import Store
from ..stores.files_root import StoreRoot
from .claims import LEASE_SECONDS, process_owner

_TRASH = ".deleting-"
_names = itertools.count()


def resources_going(store: Store, run_ids: Collection[str]) -> list[ResourceRecord]:
    """The resources that go with the runs ``run_ids``: those they computed, and those they
    used whose computing run was deleted before (it left them to the runs that used them), that
    no other run used, except those being computed; sorted by collection and identifier."""
    going = set(run_ids)
    if not going:
        return []
    found = {(r.collection, r.ident): r for r in store.resources_computed_by(sorted(going))}
    for use in store.resource_uses(sorted(going)):
        key = (use.collection, use.ident)
        if key not in found:
            record = store.get_resource(*key)
            if record is not None and _left(store, record, going):
                found[key] = record
    computed = [record for record in found.values() if record.status is not ResourceStatus.PENDING]
    users = store.resource_users([(record.collection, record.ident) for record in computed])
    chosen = [
        record
        for record in computed
        if users.get((record.collection, record.ident), set()) <= going
    ]
    return sorted(chosen, key=lambda record: (record.collection, record.ident))


def _left(store: Store, record: ResourceRecord, going: set[str]) -> bool:
    """Whether the run that computed the resource is going, or gone (a used resource whose
    computing run was deleted is left to the runs that used it)."""
    run_id = record.run_id
    return run_id is not None and (run_id in going or store.get_run(run_id) is None)


def delete_resources(
    store: Store, root: Path | None, records: Iterable[ResourceRecord], run_ids: Collection[str]
) -> list[ResourceRecord]:
    """Delete each resource (see the module's notes) that is still as judged; return those
    deleted. ``root`` is the data directory of the resource folders (None: no folders)."""
    going = set(run_ids)
    return [record for record in records if _delete(store, root, record, going)]


def _delete(store: Store, root: Path | None, record: ResourceRecord, going: set[str]) -> bool:
    collection, ident = record.collection, record.ident
    now = time.time()
    claim = ResourceRecord(
        collection,
        ident,
        ResourceStatus.PENDING,
        record.attempt + 1,
        record.task_id,
        record.arguments,
        None,
        None,
        now,
        None,
        process_owner(),
        now + LEASE_SECONDS,
        record.created_time,
        list(record.history),
        record.run_id,
        record.position,
    )
    if not store.claim_resource(claim, expected_attempt=record.attempt):
        return False  # computed again, or claimed, since it was judged: it stays
    users = store.resource_users([(collection, ident)]).get((collection, ident), set())
    if users - going:
        store.put_resource(record)  # a run that stays used it meanwhile: as it was
        return False
    try:
        if root is not None:
            _remove_folder(root, collection, ident)
    except (OSError, StoreError):
        store.put_resource(record)
        raise
    return store.delete_resource(collection, ident, attempt=claim.attempt)


def _remove_folder(root: Path, collection: str, ident: str) -> None:
    """Rename the resource's folder out of the way (atomic), then remove it; nothing when it
    has none. A link on the way that leads out of the data directory: StoreError."""
    folder = root.joinpath("resources", collection, ident)
    disk = StoreRoot(str(root), "the resource folders")
    if not os.path.lexists(folder):
        return
    disk.check(str(folder), folder=True)
    trash = folder.with_name(f"{_TRASH}{ident}-{os.getpid()}-{next(_names)}")
    os.rename(folder, trash)
    if os.path.islink(trash):  # a link that stays inside: the link goes, not what it names
        os.unlink(trash)
    else:
        shutil.rmtree(trash)
