"""Keeping the vector store in step with the SQL catalog: incremental and full indexing, resume, drift check and repair."""
