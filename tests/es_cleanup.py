"""Deleting everything a test created under an index prefix (shared by the fixtures and tests)."""

from __future__ import annotations


def drop_prefix(client, prefix: str) -> None:
    """Indices, index templates and component templates of ``prefix``.

    Real clusters refuse wildcard deletes (action.destructive_requires_name):
    the concrete indices are listed first."""
    from newsbeam.connectors.es import TEMPLATE_KINDS

    found = client.indices.get(index=f"{prefix}-*", allow_no_indices=True, expand_wildcards="all")
    for index in found:
        client.options(ignore_status=404).indices.delete(index=index)
    for kind in TEMPLATE_KINDS:
        client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-{kind}-template")
    for name in (f"{prefix}@settings", *(f"{prefix}-{k}@mappings" for k in TEMPLATE_KINDS)):
        client.options(ignore_status=404).cluster.delete_component_template(name=name)
