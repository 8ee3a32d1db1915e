"""The knowledge base: the report as shipped, curated data, the builder, and search over it."""
