"""Seeded contents of one simulated site: hosts, services, agents, servers, images.

Everything is drawn from ``random.Random("edgeshade-sim:{seed}:{site}")`` in
a fixed order, so a site's contents depend only on the seed and its name
(not on the fleet size, the faults or the order requests arrive in), and a
site is generated only when a request first touches it. Objects are small
``__slots__`` records; the API modules render them per request, so 10,000
generated sites stay around a few tens of MB. They are mutable: later
handlers (server create/delete, image upload...) change them in place.

Core sites (``core-a/*``, ``core-b/*``) are big and always healthy: 8-20
hypervisors (one disabled for maintenance, still up), 3 controllers, 3
network nodes, Cinder with two backends. Edge sites have 1-3 hypervisors and
one controller; half of them have Cinder. Edge health, per site:

==============================================  =========
one nova-compute down (sites with 2+ computes)  4 %
every nova-compute down                         0.5 %
1-3 servers in ERROR                            3 %
quota usage of cores or RAM above 90 %          3 %
one Neutron agent dead                          3 %
a cinder-volume down (sites with Cinder)        3 %
==============================================  =========

The rest is healthy: quota usage below 75 %, every service up. Neutron is
Open vSwitch (70 %) or OVN (30 %). Edge Cinder has one backend (70 %: a
cinder-volume down means Cinder down) or two (30 %).
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

from edgeshade.sim.model import Cloud, Site

P_ONE_COMPUTE_DOWN = 0.04
P_ALL_COMPUTE_DOWN = 0.005
P_ERROR_SERVERS = 0.03
P_QUOTA_HIGH = 0.03
P_AGENT_DEAD = 0.03
P_VOLUME_DOWN = 0.03
P_TWO_BACKENDS = 0.3
P_OVN = 0.3

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class Flavor:
    __slots__ = ("id", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "is_public",
                 "description", "extra_specs")

    def __init__(self, id: str, name: str, vcpus: int, ram: int, disk: int,
                 ephemeral: int = 0, swap: int = 0, is_public: bool = True,
                 description: str | None = None, extra_specs: dict | None = None) -> None:
        self.id, self.name, self.vcpus, self.ram, self.disk = id, name, vcpus, ram, disk
        self.ephemeral, self.swap, self.is_public = ephemeral, swap, is_public
        self.description = description
        self.extra_specs = extra_specs or {}


#: The default flavors, shared by every site until a handler changes a site's list.
DEFAULT_FLAVORS: tuple[Flavor, ...] = (
    Flavor("1", "m1.tiny", 1, 512, 1),
    Flavor("2", "m1.small", 1, 2048, 20),
    Flavor("3", "m1.medium", 2, 4096, 40),
    Flavor("4", "m1.large", 4, 8192, 80),
    Flavor("5", "m1.xlarge", 8, 16384, 160),
    Flavor("c1", "c1.edge", 2, 2048, 10, extra_specs={"hw:cpu_policy": "dedicated"}),
)

#: Base images: the same image has the same checksums fleet-wide, as when one
#: image is uploaded everywhere. (name, size, disk_format, os_distro)
_IMAGES = (
    ("cirros-0.6.2-x86_64-disk", 21430272, "qcow2", "cirros"),
    ("ubuntu-22.04-server-cloudimg-amd64", 658047488, "qcow2", "ubuntu"),
    ("ubuntu-24.04-server-cloudimg-amd64", 591724544, "qcow2", "ubuntu"),
    ("debian-12-genericcloud-amd64", 347205632, "qcow2", "debian"),
    ("edge-appliance-3.1", 1073741824, "raw", "debian"),
)


class Service:
    """A Nova or Cinder service (its ``state`` is what health checks read)."""

    __slots__ = ("id", "uuid", "binary", "host", "zone", "state", "status", "disabled_reason",
                 "forced_down", "updated_at")

    def __init__(self, id: int, uuid: str, binary: str, host: str, zone: str) -> None:
        self.id, self.uuid, self.binary, self.host, self.zone = id, uuid, binary, host, zone
        self.state = "up"
        self.status = "enabled"
        self.disabled_reason: str | None = None
        self.forced_down = False
        self.updated_at: datetime | None = None  # None: "now" (a live heartbeat)


class Hypervisor:
    """A compute host; up/down and enabled/disabled come from its nova-compute service."""

    __slots__ = ("id", "uuid", "hostname", "host_ip", "vcpus", "memory_mb", "local_gb",
                 "hypervisor_type", "hypervisor_version", "service")

    def __init__(self, id: int, uuid: str, hostname: str, host_ip: str, vcpus: int,
                 memory_mb: int, local_gb: int, service: Service) -> None:
        self.id, self.uuid, self.hostname, self.host_ip = id, uuid, hostname, host_ip
        self.vcpus, self.memory_mb, self.local_gb = vcpus, memory_mb, local_gb
        self.hypervisor_type = "QEMU"
        self.hypervisor_version = 8002000
        self.service = service


class Server:
    __slots__ = ("id", "name", "status", "project_id", "user_id", "host", "hypervisor", "flavor",
                 "image_id", "created", "ip", "mac", "network", "instance_name", "fault",
                 "metadata", "tags", "locked", "description", "key_name")

    def __init__(self, id: str, name: str, status: str, project_id: str, user_id: str,
                 host: Hypervisor | None, flavor: Flavor, image_id: str, created: datetime,
                 ip: str, mac: str, network: str, instance_name: str) -> None:
        self.id, self.name, self.status = id, name, status
        self.project_id, self.user_id = project_id, user_id
        self.host, self.flavor, self.image_id = host, flavor, image_id
        self.created, self.ip, self.mac, self.network = created, ip, mac, network
        self.instance_name = instance_name
        self.fault: dict | None = None
        self.metadata: dict[str, str] = {}
        self.tags: list[str] = []
        self.locked = False
        self.description: str | None = None
        self.key_name: str | None = None


class Agent:
    __slots__ = ("id", "agent_type", "binary", "host", "alive", "admin_state_up", "topic",
                 "created_at", "availability_zone", "configurations")

    def __init__(self, id: str, agent_type: str, binary: str, host: str, topic: str,
                 created_at: datetime, availability_zone: str | None = None) -> None:
        self.id, self.agent_type, self.binary, self.host = id, agent_type, binary, host
        self.alive = True
        self.admin_state_up = True
        self.topic = topic
        self.created_at = created_at
        self.availability_zone = availability_zone
        self.configurations: dict = {}


class Network:
    __slots__ = ("id", "name", "project_id", "external", "shared", "network_type",
                 "segmentation_id", "physical_network", "mtu", "subnet_ids", "created_at")

    def __init__(self, id: str, name: str, project_id: str, external: bool, shared: bool,
                 network_type: str, segmentation_id: int | None, physical_network: str | None,
                 mtu: int, subnet_ids: list[str], created_at: datetime) -> None:
        self.id, self.name, self.project_id = id, name, project_id
        self.external, self.shared = external, shared
        self.network_type, self.segmentation_id = network_type, segmentation_id
        self.physical_network, self.mtu = physical_network, mtu
        self.subnet_ids, self.created_at = subnet_ids, created_at


class Image:
    __slots__ = ("id", "name", "status", "visibility", "owner", "size", "virtual_size",
                 "checksum", "os_hash_algo", "os_hash_value", "disk_format", "container_format",
                 "min_disk", "min_ram", "created_at", "updated_at", "properties", "tags",
                 "protected", "os_hidden")

    def __init__(self, id: str, name: str, owner: str, size: int, disk_format: str,
                 created_at: datetime, checksum: str, sha512: str) -> None:
        self.id, self.name, self.owner = id, name, owner
        self.status = "active"
        self.visibility = "public"
        self.size = size
        self.virtual_size: int | None = size * 4 if disk_format == "qcow2" else size
        self.checksum, self.os_hash_algo, self.os_hash_value = checksum, "sha512", sha512
        self.disk_format, self.container_format = disk_format, "bare"
        self.min_disk, self.min_ram = 0, 0
        self.created_at = self.updated_at = created_at
        self.properties: dict[str, str] = {}
        self.tags: list[str] = []
        self.protected = False
        self.os_hidden = False


class SiteContents:
    """One site's mutable contents (see the module docstring for what is in it)."""

    __slots__ = ("site", "cloud", "network_backend", "compute_services", "hypervisors",
                 "servers", "flavors", "quotas", "agents", "networks", "volume_services",
                 "images", "next_id")

    def __init__(self, site: Site, cloud: Cloud) -> None:
        self.site = site
        self.cloud = cloud
        self.network_backend = "ovs"
        self.compute_services: list[Service] = []
        self.hypervisors: list[Hypervisor] = []
        self.servers: list[Server] = []
        #: Shared until changed: replace the tuple with a list before mutating.
        self.flavors: tuple[Flavor, ...] | list[Flavor] = DEFAULT_FLAVORS
        self.quotas: dict[str, int] = {}
        self.agents: list[Agent] = []
        self.networks: list[Network] = []
        self.volume_services: list[Service] | None = None
        self.images: list[Image] = []
        self.next_id = 1  # integer ids of services/hypervisors (microversion < 2.53)

    def usage(self, project_id: str) -> dict[str, int]:
        """Cores, RAM (MB) and instances used by ``project_id`` (what /limits reports)."""
        cores = ram = count = 0
        for server in self.servers:
            if server.project_id == project_id:
                cores += server.flavor.vcpus
                ram += server.flavor.ram
                count += 1
        return {"cores": cores, "ram": ram, "instances": count}

    def flavor(self, flavor_id: str) -> Flavor | None:
        return next((f for f in self.flavors if f.id == flavor_id), None)


# -- generation -------------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    """A version-4 style UUID string from the site's generator (3x faster than uuid.UUID)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _when(rng: random.Random, days: int = 600) -> datetime:
    return _EPOCH + timedelta(seconds=rng.randrange(days * 86400))


def _image_digests(name: str, size: int) -> tuple[str, str]:
    """md5-like and sha512 values for a base image: identical wherever it is uploaded."""
    seed = f"{name}:{size}".encode()
    return hashlib.md5(seed, usedforsecurity=False).hexdigest(), hashlib.sha512(seed).hexdigest()


def generate(seed: int, site: Site, cloud: Cloud) -> SiteContents:
    """The contents of ``site`` for ``seed`` (pure: same inputs, same contents)."""
    rng = random.Random(f"edgeshade-sim:{seed}:{site.name}")
    c = SiteContents(site, cloud)
    slug = site.name.replace("/", "-").lower()
    core = site.core

    def service(binary: str, host: str, zone: str) -> Service:
        svc = Service(c.next_id, _uuid(rng), binary, host, zone)
        c.next_id += 1
        return svc

    # Hosts.
    controllers = [f"{slug}-ctl{i}" for i in range(1, (3 if core else 1) + 1)]
    n_compute = rng.randint(8, 20) if core else rng.randint(1, 3)
    computes = [f"{slug}-cmp{i:02d}" for i in range(1, n_compute + 1)]
    net_nodes = [f"{slug}-net{i}" for i in range(1, 4)] if core else controllers[:1]
    subnet = rng.randrange(1, 250)

    # Nova services and hypervisors.
    for host in controllers:
        c.compute_services.append(service("nova-scheduler", host, "internal"))
        c.compute_services.append(service("nova-conductor", host, "internal"))
    vcpus = rng.choice((48, 64, 96, 128)) if core else rng.choice((16, 24, 32, 48))
    memory = rng.choice((262144, 393216, 524288)) if core else rng.choice((65536, 131072))
    for i, host in enumerate(computes):
        svc = service("nova-compute", host, "nova")
        c.compute_services.append(svc)
        hyp = Hypervisor(svc.id, _uuid(rng), host, f"10.{subnet}.0.{10 + i}", vcpus, memory,
                         rng.choice((900, 1800, 3600)), svc)
        c.hypervisors.append(hyp)

    # Health draws, in a fixed order (adding a draw at the end keeps old sites stable).
    draws = [rng.random() for _ in range(7)]
    all_down = not core and draws[0] < P_ALL_COMPUTE_DOWN
    one_down = not core and not all_down and n_compute > 1 and draws[1] < P_ONE_COMPUTE_DOWN
    error_servers = not core and draws[2] < P_ERROR_SERVERS
    quota_high = not core and draws[3] < P_QUOTA_HIGH
    agent_dead = not core and draws[4] < P_AGENT_DEAD
    volume_down = not core and draws[5] < P_VOLUME_DOWN
    c.network_backend = "ovn" if draws[6] < P_OVN else "ovs"

    stale = _EPOCH + timedelta(days=rng.randrange(500, 700))
    if all_down:
        for hyp in c.hypervisors:
            hyp.service.state, hyp.service.updated_at = "down", stale
    elif one_down:
        victim = rng.choice(c.hypervisors).service
        victim.state, victim.updated_at = "down", stale
    if core:  # one host in maintenance: disabled but up, not a problem
        maint = rng.choice(c.hypervisors).service
        maint.status, maint.disabled_reason = "disabled", "maintenance: firmware upgrade"

    # Networks (before servers, which are attached to "private").
    created = _when(rng, 200)
    public = Network(_uuid(rng), "public", cloud.project_id, True, True, "flat", None, "physnet1",
                     1500, [_uuid(rng)], created)
    private = Network(_uuid(rng), "private", cloud.project_id, False, False,
                      "geneve" if c.network_backend == "ovn" else "vxlan", rng.randrange(1, 4000),
                      None, 1442 if c.network_backend == "ovn" else 1450, [_uuid(rng)], created)
    c.networks = [public, private]

    # Images.
    for name, size, disk_format, distro in _IMAGES[: rng.randint(3, len(_IMAGES))]:
        md5, sha512 = _image_digests(name, size)
        img = Image(_uuid(rng), name, cloud.project_id, size, disk_format, _when(rng, 300),
                    md5, sha512)
        img.properties = {"os_distro": distro, "hw_disk_bus": "virtio"}
        c.images.append(img)

    # Servers: most in the admin project (what /limits reports), some in a workload project.
    n_servers = rng.randint(10, 60) if core else rng.randint(0, 6)
    if quota_high:
        n_servers = max(n_servers, 3)
    flavors = DEFAULT_FLAVORS[1:5]
    for i in range(n_servers):
        project = cloud.project_id if rng.random() < 0.75 or quota_high else (
            cloud.workload_project_id)
        host = rng.choice(c.hypervisors)
        octet = 10 + i
        c.servers.append(Server(
            _uuid(rng), f"{slug}-vm{i + 1:03d}", "ACTIVE", project, cloud.user_id, host,
            rng.choice(flavors), rng.choice(c.images).id, _when(rng),
            f"192.168.{octet // 250}.{octet % 250 + 2}",
            f"fa:16:3e:{rng.randrange(256):02x}:{rng.randrange(256):02x}:{i % 256:02x}",
            "private", f"instance-{rng.randrange(1, 1 << 24):08x}",
        ))
    if all_down:
        for server in c.servers:
            server.status = "SHUTOFF"
    if error_servers:
        for i in range(rng.randint(1, 3)):
            server = Server(
                _uuid(rng), f"{slug}-failed{i + 1}", "ERROR", cloud.project_id, cloud.user_id,
                None, rng.choice(flavors), rng.choice(c.images).id, _when(rng), "", "", "",
                f"instance-{rng.randrange(1, 1 << 24):08x}",
            )
            server.fault = {
                "code": 500,
                "created": server.created,
                "message": "No valid host was found. There are not enough hosts available.",
            }
            c.servers.append(server)

    # Quotas: set from usage so that healthy sites stay below 75 % and quota_high above 90 %.
    used = c.usage(cloud.project_id)
    if quota_high:
        frac = rng.uniform(0.91, 0.99)
        cores = max(1, int(used["cores"] / frac))
        ram = max(512, int(used["ram"] / frac))
        if rng.random() < 0.5:
            ram = max(51200, int(used["ram"] / rng.uniform(0.2, 0.75)))
        else:
            cores = max(20, int(used["cores"] / rng.uniform(0.2, 0.75)) + 1)
    else:
        cores = max(20 if not core else 200, int(used["cores"] / rng.uniform(0.2, 0.75)) + 1)
        ram = max(51200 if not core else 512000, int(used["ram"] / rng.uniform(0.2, 0.75)) + 1)
    c.quotas = {
        "cores": cores,
        "ram": ram,
        "instances": max(10 if not core else 100, used["instances"] * 2 + 1),
        "key_pairs": 100,
        "server_groups": 10,
        "server_group_members": 10,
        "metadata_items": 128,
        "floating_ips": 10,
        "security_groups": 10,
        "security_group_rules": 20,
    }

    # Neutron agents.
    def agent(agent_type: str, binary: str, host: str, topic: str, az: str | None = None) -> Agent:
        a = Agent(_uuid(rng), agent_type, binary, host, topic, created, az)
        c.agents.append(a)
        return a

    if c.network_backend == "ovn":
        for host in net_nodes:
            agent("OVN Controller Gateway agent", "ovn-controller", host, "N/A")
        for host in computes:
            agent("OVN Controller agent", "ovn-controller", host, "N/A")
            agent("OVN Metadata agent", "neutron-ovn-metadata-agent", host, "N/A")
    else:
        for host in net_nodes:
            agent("L3 agent", "neutron-l3-agent", host, "l3_agent", "nova")
            agent("DHCP agent", "neutron-dhcp-agent", host, "dhcp_agent", "nova")
            agent("Metadata agent", "neutron-metadata-agent", host, "N/A")
            agent("Open vSwitch agent", "neutron-openvswitch-agent", host, "N/A")
        for host in computes:
            agent("Open vSwitch agent", "neutron-openvswitch-agent", host, "N/A")
    if agent_dead:  # prefer a kind with several agents: one dead, not all of a kind
        by_binary: dict[str, list[Agent]] = {}
        for a in c.agents:
            by_binary.setdefault(a.binary, []).append(a)
        many = [a for group in by_binary.values() if len(group) > 1 for a in group]
        rng.choice(many or c.agents).alive = False

    # Cinder.
    if site.has_volume:
        c.volume_services = [service("cinder-scheduler", h, "nova") for h in controllers]
        if core:
            backends: tuple[str, ...] = ("ceph", "ceph-ssd")
        else:  # most edge sites have one backend: losing it takes Cinder down
            backends = ("lvm", "ceph") if rng.random() < P_TWO_BACKENDS else (
                rng.choice(("lvm", "ceph")),)
        for i, backend in enumerate(backends):
            host = controllers[i % len(controllers)]
            c.volume_services.append(service("cinder-volume", f"{host}@{backend}", "nova"))
        if volume_down:
            victim = rng.choice([s for s in c.volume_services if s.binary == "cinder-volume"])
            victim.state, victim.updated_at = "down", stale
    return c
