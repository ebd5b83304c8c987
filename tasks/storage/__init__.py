"""Where runs are published: the object store (a folder or S3), the model registry, the audit ledger, and publication."""
