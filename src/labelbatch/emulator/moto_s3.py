"""Read objects straight from moto's in-process S3, for an emulator served in the same process as moto:
going through moto's backend rather than HTTP keeps a call from calling back into the server serving it."""

from __future__ import annotations

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.exceptions import S3ClientError
from moto.s3.models import s3_backends

from labelbatch.emulator.model import ObjectFetcher


def moto_s3_fetcher(account_id: str = DEFAULT_ACCOUNT_ID, partition: str = "aws") -> ObjectFetcher:
    """fetch_object(bucket, key, version) over moto's S3 for `account_id` (moto's default account)."""

    def fetch_object(bucket: str, key: str, version: str | None) -> bytes | None:
        try:
            stored = s3_backends[account_id][partition].get_object(bucket, key, version_id=version)
        except S3ClientError:  # no such bucket, or a bucket this account may not read
            return None
        return None if stored is None else bytes(stored.value)

    return fetch_object
