"""Understanding a message: normalise → tokenise → classify → extract entities (see pipeline.py)."""
