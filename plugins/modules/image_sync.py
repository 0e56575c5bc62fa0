#!/usr/bin/python
# Copyright: edgeshade developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""edgeshade.cloud.image_sync: one image, by content, on every selected site."""

from __future__ import annotations

DOCUMENTATION = r"""
module: image_sync
short_description: Make every selected OpenStack site hold an image, sending it at most once
version_added: 0.1.0
description:
  - Hashes the local image once (sha512 and md5, as Glance's C(os_hash_value) and
    C(checksum)). Sites holding that content under any name are in sync and get no bytes.
  - Other sites import it from their mirror (Glance C(web-download), O(mirror)) or get it
    uploaded, at most O(max_uploads) at once, optionally under a shared bandwidth cap.
  - Partial images an interrupted run left behind are removed or reused; superseded versions
    are renamed C(NAME@<version>). See docs/images.md of edgeshade.
  - One library call, C(edgeshade.images.sync); per-site failures are data unless
    O(max_fail_percentage) says otherwise.
author:
  - edgeshade developers (!UNKNOWN)
options:
  name:
    description: Image name at every site (and the journal operation C(image:NAME)).
    type: str
    required: true
  file:
    description: Local image file on the controller. One of O(file) or O(url) is required.
    type: path
  url:
    description: Download the image from here once (into the state dir), then distribute it.
    type: str
  mirror:
    description:
      - URL template sites import from with Glance C(web-download), for example
        V(http://mirror-{{ site.vars.region_group }}/img.qcow2) (quote the braces from Ansible's
        templating with C(!unsafe) or C({% raw %})).
      - Names are C(site.name), C(site.cloud), C(site.region), C(site.vars.KEY), C(image.name),
        C(image.sha512), C(image.version).
    type: str
  fallback:
    description: With O(mirror), upload to sites that lack C(web-download) or whose import failed.
    type: bool
    default: true
  adopt:
    description: Same content under another name is left alone (V(none)), marked as this image
      (V(tag)), or also renamed (V(rename)).
    type: str
    choices: [none, tag, rename]
    default: none
  properties:
    description: Image properties of new images (strings).
    type: dict
    default: {}
  disk_format:
    description: Glance disk format (default from the file's header).
    type: str
  visibility:
    description: Visibility of new images.
    type: str
    choices: [public, private, shared, community]
  max_uploads:
    description: Uploads in flight at once (API calls use O(concurrency)).
    type: int
    default: 4
  bandwidth_mbps:
    description: Cap on all uploads together, Mbit/s (none by default).
    type: float
  upload_timeout:
    description: Deadline of each upload in seconds (default 300 plus the size at 256 KiB/s).
    type: float
  import_timeout:
    description: Deadline of each mirror import in seconds.
    type: float
    default: 1800
  stall_timeout:
    description: Fail an upload whose link moves no byte for this many seconds.
    type: float
    default: 120
extends_documentation_fragment:
  - edgeshade.cloud.fleet
attributes:
  check_mode:
    description: Returns each site's plan (in sync, adopt, transfer; leftovers to remove) and
      changes nothing.
    support: full
  diff_mode:
    description: Shows per site the image before and after.
    support: full
"""

EXAMPLES = r"""
- name: The app image everywhere, from regional mirrors where sites can import
  edgeshade.cloud.image_sync:
    sites: edge-*
    name: app-2.3
    file: /srv/images/app-2.3.qcow2
    mirror: !unsafe "http://mirror-{{ site.vars.region_group }}/app-2.3.qcow2"
    max_uploads: 8
    bandwidth_mbps: 400
    max_fail_percentage: 5
  register: synced

- name: Sites still without it
  ansible.builtin.debug:
    var: synced.failed_sites
"""

RETURN = r"""
msg:
  description: One-line summary of the run.
  returned: always
  type: str
  sample: "100 sites: 98 ok, 2 unreachable — 1.9 s"
task:
  description: Name of the task that ran.
  returned: success
  type: str
  sample: image_sync
summary:
  description: Sites per state, worst state first, only states that occurred.
  returned: success
  type: dict
  sample: {"unreachable": 2, "ok": 98}
exit_code:
  description: Nagios code of the worst site (0 ok, 1 warning, 2 any failure, 3 no sites).
  returned: success
  type: int
  sample: 2
elapsed:
  description: Wall time of the run, in seconds.
  returned: success
  type: float
  sample: 1.93
cancelled:
  description: Whether the run was interrupted (the task then fails).
  returned: success
  type: bool
  sample: false
failed_sites:
  description: Names of the sites in one of O(fail_states), in selection order.
  returned: success
  type: list
  elements: str
  sample: ["edge-00017", "edge-00311"]
fail_percentage:
  description: Share of the selected sites in RV(failed_sites), in percent.
  returned: success
  type: float
  sample: 2.0
sites:
  description: One result per selected site, in selection order.
  returned: success
  type: list
  elements: dict
  contains:
    site:
      description: Site name (V(cloud) or V(cloud/region)).
      type: str
      sample: edge-00017
    cloud:
      description: Cloud name in C(clouds.yaml).
      type: str
      sample: edge-00017
    region:
      description: Region name.
      type: str
      sample: RegionOne
    state:
      description: The site's state (V(skipped) for every site in check mode without C(dry_run)).
      type: str
      sample: ok
    reason:
      description: Why the site is not V(ok), in one line; empty when it is.
      type: str
      sample: ""
    hint:
      description: What to try, when the library knows.
      type: str
      sample: null
    requests:
      description: HTTP requests made for this site.
      type: int
      sample: 7
    elapsed:
      description: Seconds this site took.
      type: float
      sample: 0.188
    data:
      description:
        - The site's outcome. C(action) is V(in_sync), V(adopt), V(uploaded), V(imported),
          V(busy) (another upload is moving) or, in check mode, V(transfer); C(version) is the
          first 12 hex digits of the sha512; C(cleanup) and C(superseded) list the partial
          images removed and the old versions renamed; C(diff) is shown in diff mode.
      type: dict
      sample:
        action: uploaded
        version: 5000b0bf28f9
        image_id: 6f1c1d1e-4c2f-4b59-9a63-2f5f2b8f4b11
        found_as: app-2.3
        bytes_sent: 52428800
        changed: true
"""

from ansible_collections.edgeshade.cloud.plugins.module_utils.fleet import (  # noqa: E402
    HAS_EDGESHADE,
    FleetModule,
)

if HAS_EDGESHADE:
    from edgeshade import images

_SYNC_OPTIONS = ("file", "url", "mirror", "fallback", "adopt", "properties", "disk_format",
                 "visibility", "max_uploads", "bandwidth_mbps", "upload_timeout",
                 "import_timeout", "stall_timeout")


class ImageSyncModule(FleetModule):
    argument_spec = dict(
        name=dict(type="str", required=True),
        file=dict(type="path"),
        url=dict(type="str"),
        mirror=dict(type="str"),
        fallback=dict(type="bool", default=True),
        adopt=dict(type="str", choices=["none", "tag", "rename"], default="none"),
        properties=dict(type="dict", default={}),
        disk_format=dict(type="str"),
        visibility=dict(type="str", choices=["public", "private", "shared", "community"]),
        max_uploads=dict(type="int", default=4),
        bandwidth_mbps=dict(type="float"),
        upload_timeout=dict(type="float"),
        import_timeout=dict(type="float", default=1800),
        stall_timeout=dict(type="float", default=120),
    )
    module_kwargs = dict(
        mutually_exclusive=[["file", "url"]],
        required_one_of=[["file", "url"]],
    )

    def call(self, fleet):
        """One library call: edgeshade.images.sync (check mode: its dry run, the plan)."""
        options = {k: self.params[k] for k in _SYNC_OPTIONS if self.params[k] is not None}
        options["properties"] = {k: str(v) for k, v in options.get("properties", {}).items()}
        return images.sync(fleet, self.params["name"], dry_run=self.module.check_mode, **options)


def main():
    ImageSyncModule()()


if __name__ == "__main__":
    main()
