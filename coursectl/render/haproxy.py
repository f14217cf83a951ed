"""Pure builders for the HAProxy edge: the configuration file and runtime-API command lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coursectl.render.templates import templates_dir

HEALTH_INTERVAL = "5s"  # health checks of a server that answers
HEALTH_FAST = "1s"  # ... of one that failed a check, or is down (fastinter / downinter)
HEALTH_NEW = "100ms"  # ... of a slot's server just added (down until its first check passes, then `inter`)


def _render(name: str, **context: Any) -> str:
    """The edge template is written for Jinja2's default whitespace handling (it is shared with the services'
    edge tests), so it gets its own environment rather than the trim_blocks one of render.templates."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    return env.get_template(name).render(**context)


@dataclass(frozen=True)
class EdgeServer:
    """One slot of a service as the edge knows it."""

    slot: str
    host: str
    port: int
    weight: int  # HAProxy weight 0..256
    state: str = "ready"  # ready | drain | maint


@dataclass(frozen=True)
class EdgeBackend:
    """One service's backend: its health path and its slot servers."""

    name: str
    health: str = "/health/ready"
    servers: tuple[EdgeServer, ...] = field(default_factory=tuple)
    route: str | None = None  # path prefix; None: /api/<name>/; "/": the edge's default backend


def backend_name(service: str) -> str:
    """The HAProxy backend of a service (the template's naming)."""
    return f"be_{service}"


def service_of(backend: str) -> str | None:
    return backend[3:] if backend.startswith("be_") and backend != "be_no_route" else None


def render_config(
    *,
    backends: Sequence[EdgeBackend],
    bind: str,
    stats_bind: str,
    socket: str,
    pidfile: str,
    rate_limit_requests: int,
    rate_limit_period: float,
) -> str:
    """haproxy.cfg for the edge, from templates/edge/haproxy.cfg.j2 (shared with the services' edge tests)."""
    return _render(
        "edge/haproxy.cfg.j2",
        edge={
            "bind": bind,
            "stats_bind": stats_bind,
            "admin_socket": socket,
            "pidfile": pidfile,
            "log_target": "stderr",
            # an idle edge checks each live server every 5 s (each check is a request its service answers);
            # after a failed check, and while a server is down, every second as before
            "health_interval": HEALTH_INTERVAL,
            "health_fastinter": HEALTH_FAST,
            "health_downinter": HEALTH_FAST,
            "rate_limit": {"requests": rate_limit_requests, "period": f"{int(rate_limit_period)}s"},
        },
        services=[
            {
                "name": b.name,
                "route": b.route,
                "servers": [
                    {
                        "name": s.slot,
                        "address": f"{s.host}:{s.port}",
                        "weight": s.weight,
                        "disabled": s.state == "maint",
                    }
                    for s in b.servers
                ],
            }
            for b in backends
        ],
    )


def check_argv(config_path: str) -> list[str]:
    return ["haproxy", "-c", "-q", "-f", config_path]


def start_argv(config_path: str) -> list[str]:
    """The edge as a daemon in master-worker mode (the command returns once it is started)."""
    return ["haproxy", "-W", "-D", "-f", config_path]


# runtime API commands ------------------------------------------------------------------------------------


def add_server(service: str, server: EdgeServer, health: str) -> list[str]:
    """Commands that add a slot's server, at weight 0 and checked, ready to receive a weight.

    Its health starts *down*: HAProxy takes a new server for up until a check fails, which would give a slot
    that is not ready traffic for a moment; down, it takes traffic only once a check has passed (``rise 1``,
    checked every 100 ms while down).
    """
    del health  # the backend's httpchk applies to dynamic servers too
    backend = backend_name(service)
    return [
        f"add server {backend}/{server.slot} {server.host}:{server.port} weight 0 check inter {HEALTH_INTERVAL}"
        f" fastinter {HEALTH_FAST} downinter {HEALTH_NEW} fall 2 rise 1",
        f"enable health {backend}/{server.slot}",
        f"set server {backend}/{server.slot} state ready",
        f"set server {backend}/{server.slot} health down",  # after: leaving maintenance counts it as up
    ]


def set_weight(service: str, slot: str, weight: int) -> list[str]:
    """A weight; 0 puts the server in maintenance (running requests finish, no new ones — not even on a kept-alive
    client connection, which ``drain`` would still allow), above 0 makes the server ready."""
    backend = backend_name(service)
    if weight <= 0:
        return [f"set server {backend}/{slot} weight 0", f"set server {backend}/{slot} state maint"]
    return [f"set server {backend}/{slot} state ready", f"set server {backend}/{slot} weight {weight}"]


def remove_server(service: str, slot: str) -> list[str]:
    """Out of rotation first; the caller waits for running requests to end, then ``delete_server``."""
    backend = backend_name(service)
    return [f"set server {backend}/{slot} weight 0", f"set server {backend}/{slot} state maint"]


def delete_server(service: str, slot: str) -> list[str]:
    backend = backend_name(service)
    return [
        f"disable health {backend}/{slot}",
        f"set server {backend}/{slot} state maint",
        f"del server {backend}/{slot}",
    ]


OP_RUNNING = 2  # srv_op_state of ``show servers state``: 0 stopped (down), 1 starting, 2 running, 3 stopping


def parse_servers_state(text: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``show servers state`` → service (backend be_<service>) → server → {addr, port, weight, admin_state,
    op_state}; backends that are not a service's are left out."""
    lines = [line for line in text.splitlines() if line.strip()]
    header: list[str] | None = None
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for line in lines:
        if line.startswith("#"):
            header = line.lstrip("# ").split()
            continue
        if header is None or line.strip().isdigit():
            continue
        values = dict(zip(header, line.split(), strict=False))
        service = service_of(values.get("be_name", ""))
        if service is None:
            continue
        out.setdefault(service, {})[values["srv_name"]] = {
            "addr": values.get("srv_addr"),
            "port": int(values.get("srv_port", 0) or 0),
            "weight": int(values.get("srv_uweight", 0) or 0),
            "admin_state": int(values.get("srv_admin_state", 0) or 0),
            "op_state": int(values.get("srv_op_state", 0) or 0),
        }
    return out


def parse_stat_sessions(csv_text: str, service: str) -> dict[str, int]:
    """Current sessions per server of a service's backend from ``show stat`` CSV output."""
    backend = backend_name(service)
    lines = csv_text.splitlines()
    if not lines:
        return {}
    header = lines[0].lstrip("# ").split(",")
    idx_px, idx_sv, idx_scur = header.index("pxname"), header.index("svname"), header.index("scur")
    out: dict[str, int] = {}
    for line in lines[1:]:
        cols = line.split(",")
        if len(cols) > idx_scur and cols[idx_px] == backend and cols[idx_sv] not in ("FRONTEND", "BACKEND"):
            out[cols[idx_sv]] = int(cols[idx_scur] or 0)
    return out


def servers_from_state(state: Mapping[str, Mapping[str, Mapping[str, Any]]], backend: str) -> list[EdgeServer]:
    """EdgeServers of a backend from parsed live state (maint servers kept as maint)."""
    servers = []
    for slot, info in sorted(state.get(backend, {}).items()):
        admin = int(info.get("admin_state", 0))
        mode = "maint" if admin & 0x01 or admin & 0x02 else ("drain" if admin & 0x08 else "ready")
        servers.append(
            EdgeServer(slot, str(info.get("addr")), int(info.get("port", 0)), int(info["weight"]), mode)
        )
    return servers
