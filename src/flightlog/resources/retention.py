"""Deleting the resources that deleted runs computed, with their folders.

A resource goes with the runs being deleted when one of them claimed its latest computation
(``ResourceRecord.run_id``) and no other run used it (``Store.resource_users``: a fetch inside
a run records the use before it reads). A resource whose computing run went while other runs
used it stays with those runs, and goes with the last of them. What stays:

- a resource that a run which stays used (fetched) or computes it again;
- one being computed (PENDING with a live owner), and one computed outside any run (or before
  the store recorded which run computed it, schema version 4): no run's deletion takes those;
- a resource that changed since it was judged (computed again, by any run), or whose
  computing run is still there (its deletion was refused: resumed or changed meanwhile).

The runs go first, then their resources, each in four moves, so that neither a fetch nor a
crash at any moment finds a record whose folder is gone: the deleting process claims the
resource (the compare-and-set of every computation, against the attempt it judged: fetches now
wait for it), looks once more (its computing run must be gone, and no other run may have used
it meanwhile; else the record is put back as it was), renames the folder out of the way (when
that fails, the record is put back and the error says which folder), then deletes the record
while its claim still holds, and removes the renamed folder. A fetch that records its use after
that look waits for the claim, finds the record gone and computes the resource again. A crash
part-way leaves a claim whose process died (the next fetch takes it over and computes) or a
resource whose run is gone: ``gc`` sweeps both (:func:`orphans`), and the renamed folders
``.deleting-<ident>-<pid>-<n>`` that a crash or a file that could not be removed left behind.
A fetch outside any run records no use, so it does not keep a resource from going.
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
from .claims import LEASE_SECONDS, death_of, process_owner

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
    computed = [record for record in found.values() if not _live_claim(record)]
    users = store.resource_users([(record.collection, record.ident) for record in computed])
    chosen = [
        record
        for record in computed
        if users.get((record.collection, record.ident), set()) <= going
    ]
    return sorted(chosen, key=lambda record: (record.collection, record.ident))


def _live_claim(record: ResourceRecord) -> bool:
    """Whether the resource is being computed (or deleted) by a live process now."""
    return record.status is ResourceStatus.PENDING and death_of(record) is None


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
    computer = record.run_id
    if users - going or computer is None or store.get_run(computer) is not None:
        store.put_resource(record)  # used meanwhile, or its run stays: as it was
        return False
    trash = None
    if root is not None:
        try:
            trash = _move_folder(root, collection, ident)
        except (OSError, StoreError) as error:
            store.put_resource(record)
            raise StoreError(
                f"cannot delete the folder of resource {ident!r} of collection "
                f"{collection!r}: {error}"
            ) from error
    deleted = store.delete_resource(collection, ident, attempt=claim.attempt)
    if trash is not None:
        _remove(trash)
    return deleted


def _move_folder(root: Path, collection: str, ident: str) -> Path | None:
    """Rename the resource's folder out of the way (atomic); None when it has none. A link on
    the way that leads out of the data directory: StoreError."""
    folder = root.joinpath("resources", collection, ident)
    disk = StoreRoot(str(root), "the resource folders")
    if not os.path.lexists(folder):
        return None
    disk.check(str(folder), folder=True)
    trash = folder.with_name(f"{_TRASH}{ident}-{os.getpid()}-{next(_names)}")
    os.rename(folder, trash)
    return trash


def _remove(trash: Path) -> None:
    """Remove a renamed folder, as far as it goes (what stays is swept by the next ``gc``)."""
    if os.path.islink(trash):  # a link that stays inside: the link goes, not what it names
        os.unlink(trash)
    else:
        shutil.rmtree(trash, ignore_errors=True)


def orphans(store: Store) -> list[ResourceRecord]:
    """Resources whose computing run is gone and that no run used: left by a deletion that
    stopped part-way (the runs went, their resources not yet), with the claims whose process
    died there. Reads every resource record (``gc`` only)."""
    found: list[ResourceRecord] = []
    for count in store.count_resources():
        for record in store.list_resources(count.collection):
            if record.run_id is None or store.get_run(record.run_id) is not None:
                continue
            if _live_claim(record):
                continue  # being computed (or deleted) now
            found.append(record)
    if not found:
        return []
    users = store.resource_users([(record.collection, record.ident) for record in found])
    return [record for record in found if not users.get((record.collection, record.ident))]


def sweep_trash(root: Path | None) -> None:
    """Remove the renamed folders that deletions left behind (a crash, a file that could not
    be removed)."""
    folders = None if root is None else root.joinpath("resources")
    if folders is None or not folders.is_dir():
        return
    for collection in folders.iterdir():
        if collection.is_dir() and not collection.is_symlink():
            for entry in collection.iterdir():
                if entry.name.startswith(_TRASH):
                    _remove(entry)
