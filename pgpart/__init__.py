"""pgpart: keep PostgreSQL time-partitioned tables healthy.

Importing this package stays cheap (``pgpart --version`` must start fast);
the library API is exposed lazily through ``__getattr__``.
"""

from __future__ import annotations

__version__ = "0.1.0"
