"""The workflow file: loading, schema, model."""
