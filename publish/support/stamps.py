"""What a file's stamp (its size, times and inode) can vouch for.

A file changed again within one tick of a coarse file-system clock can keep its
modification and change times, so a stamp vouches for a file's content only once its
times are older than `RACY_NS` when the file is read (the build cache's index of essay
keys) or stamped (the manifest of a rebuild with nothing changed).
"""

from __future__ import annotations

RACY_NS = 2_000_000_000  # a time this close to a reading may not move on the next change
