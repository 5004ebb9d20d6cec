"""Host a managed vLLM server in a Ray actor that holds what the backend config asks for: `num_gpus` (0 on CPU)
and any custom `resources` (e.g. {"vllm_node": 1} on the nodes meant to serve).

Ray then places the server on a node that has them and accounts for them, so cells scheduled beside it do not
oversubscribe the card. The actor owns the server process: stopping (or killing) the actor stops the server.
The server listens on its node's Ray address (`host: null`), the one other nodes reach it by, and the client
(a task on any node) talks HTTP to the URL the actor reports; `host: 127.0.0.1` keeps it to the actor's node.
"""

from __future__ import annotations

import os

import ray

from transfer.errors import TransferError


@ray.remote(num_cpus=0)
class ServerActor:
    def __init__(self, model_cfg: dict, backend_cfg: dict, mode: str):
        from transfer.backends.server import launch

        # the node's address in the cluster (what ray.nodes() lists for it), not loopback: clients run elsewhere
        host = backend_cfg.get("host") or ray.util.get_node_ip_address()
        self.server = launch(model_cfg, {**backend_cfg, "host": host}, mode)

    def info(self) -> tuple[str, str, float, int]:
        return self.server.url, str(self.server.log_path), self.server.startup_s, self.server.pid

    def node(self) -> tuple[str, str]:
        """(Ray node id, node address) of the node this actor and its server run on."""
        return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()

    def stop(self) -> list[int]:
        self.server.stop()
        return self.server.family


def start_actor(model_cfg: dict, backend_cfg: dict, mode: str):
    """(actor, url, log path, start-up seconds); the actor is ready once its server is healthy."""
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    # an explicit TRANSFER_HOME of the driver reaches the actor, so both agree on caches and log folders
    env = {"TRANSFER_HOME": os.environ["TRANSFER_HOME"]} if os.environ.get("TRANSFER_HOME") else {}
    gpus, resources = float(backend_cfg.get("num_gpus") or 0), dict(backend_cfg.get("resources") or {})
    wanted = {**resources, **({"GPU": gpus} if gpus else {})}
    wait_s = 2 * float(backend_cfg.get("startup_timeout_s") or 300)  # to be placed, then to start
    if not placeable(wanted):  # Ray waits for such a node silently: say so (an autoscaler may add one)
        print(f"[vllm] no Ray node offers {wanted} now: waiting up to {wait_s:g} s for one", flush=True)
    actor = ServerActor.options(num_gpus=gpus, resources=resources or None,
                                runtime_env={"env_vars": env} if env else None).remote(model_cfg, backend_cfg, mode)
    try:
        url, log_path, startup_s, _ = ray.get(actor.info.remote(), timeout=wait_s)
    except ray.exceptions.GetTimeoutError:
        ray.kill(actor)
        why = "see its log under $TRANSFER_HOME/logs" if placeable(wanted) else \
            f"no Ray node offers {wanted} (backend num_gpus/resources); nodes offer: {', '.join(offered())}"
        raise TransferError(f"vLLM server actor for {model_cfg['name']} ({mode}) not up after {wait_s:g} s: "
                            f"{why}") from None
    except ray.exceptions.RayActorError as exc:  # start-up failed inside the actor: keep its message
        ray.kill(actor)
        raise TransferError(f"vLLM server actor for {model_cfg['name']} ({mode}) failed to start: "
                            f"{getattr(exc, 'cause', None) or exc}") from None
    return actor, url, log_path, startup_s


def placeable(wanted: dict[str, float]) -> bool:
    """Some alive node offers all of `wanted` (resource -> amount)."""
    nodes = [n["Resources"] for n in ray.nodes() if n["Alive"]]
    return not wanted or any(all(res.get(k, 0) >= v for k, v in wanted.items()) for res in nodes)


def offered() -> list[str]:
    return sorted({k for n in ray.nodes() if n["Alive"] for k in n["Resources"] if not k.startswith("node:")})


def stop_actor(actor) -> list[int]:
    """Stop the server, then the actor; returns the server's process ids (all gone by now)."""
    try:
        return ray.get(actor.stop.remote(), timeout=60)
    finally:
        ray.kill(actor)
