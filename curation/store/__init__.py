"""The only package that talks to DuckDB. `Store` owns the connection; domain modules hold the SQL.

Submodules (`examples`, `revisions`, `sources`, `jobs_table`, ...) expose functions taking a `Store`.
Values always travel as parameters; identifiers only through `quote_ident`.
May import: `curation.filters`, `curation.models`, `curation.config`; never a capability package.
"""

from curation.store.core import (
    ConflictError,
    Store,
    StoreAccessError,
    StoreLockedError,
    TeamDatabaseError,
    quote_ident,
)

__all__ = ["ConflictError", "Store", "StoreAccessError", "StoreLockedError", "TeamDatabaseError", "quote_ident"]
