"""Word-level attacks through TextAttack, offline: plugins (``recipes``), components and the fast
model wrapper (``components``), and the offline import (``offline``)."""
