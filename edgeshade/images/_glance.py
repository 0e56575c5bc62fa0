"""The few Glance v2 (and one Nova) calls image distribution needs, on a site's session.

Why plain REST on the site's keystoneauth session rather than openstacksdk's
``create_image``: the sdk hashes the whole file again for every site (the file
was hashed once already), matches existing images by *name* only, sends the body
with its own retry policy and builds a proxy per site (~80 ms of CPU with service
discovery). Glance's image API is small and stable; these calls keep the site's
token, catalog, deadline, retries and call log (``--debug``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from keystoneauth1 import exceptions as ks_exc

from edgeshade.connection import SiteConnection

JSON_PATCH = "application/openstack-images-v2.1-json-patch"
#: Image statuses that mean "no usable data yet" (an upload or import in progress or cut off).
PARTIAL = frozenset({"queued", "saving", "importing", "uploading"})
PAGE = 200


def list_images(conn: SiteConnection, **filters: str) -> list[dict[str, Any]]:
    """Every image matching ``filters`` (Glance filters; unknown keys filter on properties)."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": PAGE, **filters}
    while True:
        page = conn.request("GET", "image", "/images", params=params) or {}
        images = page.get("images") or []
        out.extend(images)
        nxt = page.get("next")
        if not nxt or not images:
            return out
        marker = parse_qs(urlsplit(nxt).query).get("marker")
        if not marker:
            return out
        params = {**params, "marker": marker[0]}


def get_image(conn: SiteConnection, image_id: str) -> dict[str, Any]:
    return conn.request("GET", "image", f"/images/{image_id}")


def create_image(conn: SiteConnection, body: dict[str, Any]) -> dict[str, Any]:
    return conn.request("POST", "image", "/images", json_body=body)


def update_image(conn: SiteConnection, image_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Set attributes/properties (``None`` removes a property) with one JSON patch."""
    ops = [{"op": "remove", "path": f"/{k}"} if v is None
           else {"op": "replace" if k == "name" else "add", "path": f"/{k}", "value": v}
           for k, v in changes.items()]
    return conn.request("PATCH", "image", f"/images/{image_id}", json_body=ops,
                        headers={"Content-Type": JSON_PATCH})


def delete_image(conn: SiteConnection, image_id: str) -> bool:
    """Delete; False if it was already gone."""
    try:
        conn.request("DELETE", "image", f"/images/{image_id}")
    except ks_exc.NotFound:
        return False
    return True


def upload_data(conn: SiteConnection, image_id: str, body: Any, *, stall_timeout: float) -> None:
    """``PUT /images/{id}/file`` streaming ``body``; no transport retry (a stream is spent).

    Socket operations time out after ``stall_timeout`` (a link that stops moving
    bytes), while the whole upload may take until the site's (long) deadline.
    """
    url = f"{conn.endpoint('image')}/images/{image_id}/file"
    session = conn.session
    retries, timeout = session.retries, session.timeout
    session.retries, session.timeout = 0, stall_timeout
    try:
        session.request(url, "PUT", data=body,
                        headers={"Content-Type": "application/octet-stream"})
    finally:
        session.retries, session.timeout = retries, timeout


def import_methods(conn: SiteConnection) -> list[str]:
    """The site's Glance import methods ([] where the import API is absent)."""
    try:
        info = conn.request("GET", "image", "/info/import") or {}
    except ks_exc.NotFound:
        return []
    return list((info.get("import-methods") or {}).get("value") or [])


def start_web_download(conn: SiteConnection, image_id: str, uri: str) -> None:
    conn.request("POST", "image", f"/images/{image_id}/import",
                 json_body={"method": {"name": "web-download", "uri": uri}})


def images_in_use(conn: SiteConnection) -> set[str]:
    """Ids of images any server of any project boots from (Nova, all tenants)."""
    used: set[str] = set()
    params: dict[str, Any] = {"all_tenants": 1, "limit": 1000}
    while True:
        servers = (conn.request("GET", "compute", "/servers/detail", params=params) or {}).get(
            "servers") or []
        for server in servers:
            image = server.get("image")
            if isinstance(image, dict) and image.get("id"):
                used.add(image["id"])
        if len(servers) < params["limit"]:
            return used
        params = {**params, "marker": servers[-1]["id"]}
