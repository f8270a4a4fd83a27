"""A package, so that its conftest's package-scoped local stack is shared by these tests only."""
