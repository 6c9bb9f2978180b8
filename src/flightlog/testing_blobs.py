"""The store conformance suite's part on blobs written and read a piece at a time (large
values out of line) and on the blobs that records refer to.

:class:`flightlog.testing.StoreContract` inherits :class:`BlobStoreContract`, so that every
store must pass these tests too.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

import pytest

from .codec_blobs import PIECE, Pieces, StoreBlobs
from .errors import MissingBlobError, StoreError
from .model import AttachmentRecord, ResourceStatus, Status
from .stores import Store
from .testing_resources import _finished, make_claim
from .testing_selection import _run, _step


def _blob(size: int, seed: int = 1) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 32  # 1 KiB
    return (block * (size // len(block) + 1))[:size]


def _reference(kind: str, digest: str, size: int) -> str:
    return f'{{"__flightlog__":"{kind}","blob":"{digest}","size":{size}}}'


class BlobStoreContract:
    """Streamed blobs: whole or absent, deduplicated, verified, and found from records.

    :meth:`damage_blob` changes a stored blob behind the store's back; it knows flightlog's
    own stores: the test class of another store overrides it."""

    def damage_blob(self, store: Store, digest: str) -> None:
        """Change one byte of the blob stored under ``digest`` (its size stays)."""
        found: Any = store
        if isinstance(getattr(found, "_blobs", None), dict):  # the memory store
            data = bytearray(found._blobs[digest])
            data[0] ^= 0xFF
            found._blobs[digest] = bytes(data)
        elif hasattr(found, "_chunked"):  # the SQL stores: a piece, or the whole blob
            if found._chunked(digest):
                (row,) = found._query(
                    "SELECT data FROM blob_chunks WHERE sha256 = ? AND part = 0", (digest,)
                )
                table, where = "blob_chunks", " AND part = 0"
            else:
                (row,) = found._query("SELECT data FROM blobs WHERE sha256 = ?", (digest,))
                table, where = "blobs", ""
            data = bytearray(bytes(row[0]))
            data[0] ^= 0xFF
            found._write(
                f"UPDATE {table} SET data = ? WHERE sha256 = ?{where}", (bytes(data), digest)
            )
        elif hasattr(found, "_blob_path"):  # the JSON-files store
            path = found._blob_path(digest)
            os.chmod(path, 0o644)
            with open(path, "r+b") as stream:
                first = stream.read(1)
                stream.seek(0)
                stream.write(bytes([first[0] ^ 0xFF]))
            os.chmod(path, 0o444)
        else:
            raise NotImplementedError(f"override damage_blob for {type(store).__name__}")

    @pytest.mark.parametrize("size", [3000, 2 * PIECE + 11])
    @pytest.mark.parametrize("streamed", [True, False])
    def test_a_damaged_blob_is_refused_when_read(
        self, store: Store, size: int, streamed: bool
    ) -> None:
        data = _blob(size, seed=9)
        digest = hashlib.sha256(data).hexdigest()
        if streamed:
            store.put_blob_stream(digest, size, Pieces(memoryview(data)))
        else:
            assert store.put_blob(data) == digest
        self.damage_blob(store, digest)
        assert store.blob_size(digest) == size  # there, but not what was stored
        for read in (
            lambda: store.get_blob(digest),
            lambda: b"".join(store.read_blob_chunks(digest)),
            lambda: StoreBlobs(store).read(digest, size),  # a value out of line, decoded
        ):
            with pytest.raises(StoreError, match=rf"{digest}.*does not match") as caught:
                read()
            assert not isinstance(caught.value, MissingBlobError)

    @pytest.mark.parametrize("size", [0, 10, PIECE, PIECE + 3, 2 * PIECE + 5])
    def test_streamed_blob_round_trips(self, store: Store, size: int) -> None:
        data = _blob(size)
        digest = hashlib.sha256(data).hexdigest()
        assert store.blob_size(digest) is None
        assert list(store.read_blob_chunks(digest)) == []
        # pieces of odd sizes: the store cuts them its own way
        pieces = [memoryview(data)[at : at + 1_000_003] for at in range(0, size, 1_000_003)]
        assert store.put_blob_stream(digest, size, pieces) is True
        assert store.blob_size(digest) == size
        assert b"".join(store.read_blob_chunks(digest)) == data
        assert store.get_blob(digest) == data
        assert store.put_blob_stream(digest, size, Pieces(memoryview(data))) is False
        assert b"".join(store.read_blob_chunks(digest)) == data

    def test_streamed_and_whole_blobs_share_one_namespace(self, store: Store) -> None:
        data = _blob(PIECE + 10, seed=2)
        digest = store.put_blob(data)
        assert store.put_blob_stream(digest, len(data), Pieces(memoryview(data))) is False
        assert b"".join(store.read_blob_chunks(digest)) == data
        other = _blob(3000, seed=3)
        other_digest = hashlib.sha256(other).hexdigest()
        store.put_blob_stream(other_digest, len(other), [other])
        assert store.put_blob(other) == other_digest
        assert store.get_blob(other_digest) == other

    def test_concurrent_writers_of_one_blob_store_it_once(self, store: Store) -> None:
        data = _blob(2 * PIECE + 7, seed=4)
        digest = hashlib.sha256(data).hexdigest()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                store.put_blob_stream(digest, len(data), Pieces(memoryview(data), 999_999))
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=write) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert b"".join(store.read_blob_chunks(digest)) == data

    def test_referenced_blobs_are_found_in_every_kind_of_record(self, store: Store) -> None:
        digests = [f"{index:x}" * 64 for index in range(1, 8)]
        store.create_run(_run("r", 1000.0, arguments=_reference("bytes", digests[0][:64], 10)))
        step = _step("r", 0)
        step.result = f'{{"x":{_reference("ndarray", digests[1][:64], 5)}}}'
        step.arguments = _reference("pickle", digests[2][:64], 5)
        store.finish_step(step)
        attachment = store.put_blob(b"attached")
        store.record_tracked(
            "r", attachments=[AttachmentRecord("a.txt", None, None, 8, attachment, 1.0)]
        )
        store.finish_run(
            "r",
            status=Status.SUCCESSFUL,
            end_time=1001.0,
            output=_reference("text", digests[3][:64], 7),
        )
        claim = make_claim("one")
        assert store.claim_resource(claim, expected_attempt=None)
        store.finish_resource(
            _finished(
                claim,
                status=ResourceStatus.COMPLETED,
                result=_reference("bytes", digests[4][:64], 3),
            )
        )
        # a user's string that only looks like a reference is escaped: not one
        store.create_run(
            _run("s", 1001.0, arguments='{"note":"\\"blob\\":\\"' + "a" * 64 + '\\""}')
        )
        found = store.referenced_blobs()
        expected = {digest[:64] for digest in digests[:5]} | {attachment}
        assert found == expected
        # what other records refer to, leaving run "r" out (gc's dry run of deleting it)
        assert store.referenced_blobs(except_runs=["r"]) == {digests[4][:64]}
        assert store.referenced_blobs(except_runs=["s", "unknown"]) == expected

    def test_a_streamed_blob_put_again_stays(self, store: Store) -> None:
        data = _blob(PIECE + 20, seed=5)
        digest = hashlib.sha256(data).hexdigest()
        assert store.put_blob_stream(digest, len(data), Pieces(memoryview(data))) is True
        time.sleep(0.01)
        cutoff = time.time()
        time.sleep(0.01)
        # put again (a live run about to refer to it): its put time is now, so gc leaves it
        assert store.put_blob_stream(digest, len(data), Pieces(memoryview(data))) is False
        assert store.unused_blobs(put_before=cutoff) == {}
        assert store.delete_blobs([digest], put_before=cutoff) == {}
        assert b"".join(store.read_blob_chunks(digest)) == data

    def test_deleting_a_streamed_blob_takes_its_pieces(self, store: Store) -> None:
        data = _blob(2 * PIECE + 5, seed=6)
        digest = hashlib.sha256(data).hexdigest()
        store.put_blob_stream(digest, len(data), Pieces(memoryview(data)))
        time.sleep(0.01)
        assert store.unused_blobs() == {digest: len(data)}
        assert store.delete_blobs([digest]) == {digest: len(data)}
        assert store.blob_size(digest) is None
        assert list(store.read_blob_chunks(digest)) == []
        assert store.get_blob(digest) is None
        assert store.unused_blobs() == {}
        # written again in other pieces, it reads back whole (no piece of the old one left)
        assert store.put_blob_stream(digest, len(data), [data[:7], data[7:]]) is True
        assert b"".join(store.read_blob_chunks(digest)) == data

    def test_kept_blobs_stay_and_missing_ones_are_named(self, store: Store) -> None:
        data = _blob(PIECE + 30, seed=7)
        digest = hashlib.sha256(data).hexdigest()
        store.put_blob_stream(digest, len(data), Pieces(memoryview(data)))
        whole = store.put_blob(b"a small one")
        unknown = "e" * 64
        time.sleep(0.01)
        cutoff = time.time()
        time.sleep(0.01)
        assert store.keep_blobs([]) == set()
        # kept (a cache hit about to refer to them): put now, so gc leaves them
        assert store.keep_blobs([digest, whole, unknown, digest]) == {unknown}
        assert store.unused_blobs(put_before=cutoff) == {}
        assert store.delete_blobs([digest, whole], put_before=cutoff) == {}
        assert b"".join(store.read_blob_chunks(digest)) == data
        assert store.get_blob(whole) == b"a small one"
        assert store.blob_size(unknown) is None  # keeping does not make a blob
        later = time.time() + 3600
        assert store.delete_blobs([digest, whole], put_before=later) == {
            digest: len(data),
            whole: len(b"a small one"),
        }
        assert store.keep_blobs([digest, whole]) == {digest, whole}
        assert store.blob_size(digest) is None and store.get_blob(whole) is None

    def test_a_blob_deleted_while_it_is_read_is_whole_or_missing(self, store: Store) -> None:
        data = _blob(2 * PIECE + 9, seed=8)
        digest = hashlib.sha256(data).hexdigest()
        store.put_blob_stream(digest, len(data), Pieces(memoryview(data)))
        pieces = iter(store.read_blob_chunks(digest))
        first = next(pieces)
        assert store.delete_blobs([digest], put_before=time.time() + 3600) == {digest: len(data)}
        try:
            rest = b"".join(pieces)
        except MissingBlobError as error:  # never the StoreError of damaged bytes
            assert digest in str(error)
        else:  # read whole from what it had open (memory, files)
            assert first + rest == data
        assert store.blob_size(digest) is None
