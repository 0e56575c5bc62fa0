"""Image distribution across a fleet: each site gets the content once, from the nearest source.

    >>> from edgeshade import images
    >>> fleet = edgeshade.connect("edge-*")
    >>> result = images.sync(fleet, "ubuntu-24.04", file="noble.qcow2", max_uploads=8,
    ...                      mirror="http://mirror-{{ site.vars.region_group }}/noble.qcow2")
    >>> images.status(fleet, "ubuntu-24.04").summary
    >>> images.prune(fleet, "ubuntu-24.04", keep=2)

The file is hashed once (sha512 + md5, as Glance's ``os_hash_value`` and
``checksum``); a site holding that content under any name is in sync; others
import it from their mirror (Glance ``web-download``) or get it uploaded, at most
``max_uploads`` at once under an optional bandwidth cap. See docs/images.md.

Modules: ``_source`` (hashing), ``_transfer`` (bandwidth cap, byte meter, upload
body), ``_glance`` (the Glance calls), ``_tasks`` (per-site tasks), ``_sync``
(phases, journal, results).
"""

from edgeshade.images._source import ImageSource
from edgeshade.images._sync import (
    DEFAULT_MAX_UPLOADS,
    ensure_image,
    op_name,
    prune,
    status,
    sync,
    upload_deadline,
)
from edgeshade.images._tasks import MARK, MARK_SHA
from edgeshade.images._transfer import Bandwidth

__all__ = [
    "DEFAULT_MAX_UPLOADS",
    "MARK",
    "MARK_SHA",
    "Bandwidth",
    "ImageSource",
    "ensure_image",
    "op_name",
    "prune",
    "status",
    "sync",
    "upload_deadline",
]
