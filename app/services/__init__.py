"""Business operations, one module per area. They flush, never commit, and never import views."""
