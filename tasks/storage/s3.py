"""S3 access through boto3: ``s3://bucket/prefix`` URIs and a client for any S3-compatible endpoint.

The endpoint comes from the ``endpoint_url`` argument, else boto3's own ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL`` variables (MinIO, moto, Ceph ...); credentials and region from boto3's usual
chain (environment, profile, instance role).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from schemas.errors import PathError


class StorageError(RuntimeError):
    """Object storage could not be reached or answered with an error (worth a retry, unlike bad data)."""


class MissingBucket(PathError, FileNotFoundError):
    """An ``s3://`` location whose bucket does not exist: the user's to fix, not a retry's."""


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn boto3/botocore failures inside the block into :class:`StorageError` naming ``what`` (:class:`MissingBucket`
    when the bucket does not exist)."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "NoSuchBucket":
            raise MissingBucket(f"{what}: no such bucket") from exc
        raise StorageError(f"{what}: {error.get('Code', 'error')} ({error.get('Message', exc)})") from exc
    except BotoCoreError as exc:
        raise StorageError(f"{what}: {exc}") from exc


def is_s3_uri(uri: str) -> bool:
    return str(uri).startswith("s3://")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")`` (prefix without surrounding slashes)."""
    if not is_s3_uri(uri):
        raise PathError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise PathError(f"no bucket in {uri!r}")
    return bucket, prefix.strip("/")


def s3_client(endpoint_url: str | None = None):
    """A boto3 S3 client with standard retries (backoff on throttling and transient errors)."""
    return boto3.client("s3", endpoint_url=endpoint_url, config=Config(retries={"max_attempts": 5, "mode": "standard"}))


def list_keys(client, bucket: str, prefix: str) -> Iterator[str]:
    """Every key under ``prefix`` (paginated)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
        for obj in page.get("Contents", []):
            yield obj["Key"]
