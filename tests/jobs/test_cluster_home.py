"""A node that cannot see $TRANSFER_HOME is refused at the start of a sweep, in one line naming the node and path.

The blind node is a real Ray worker node joined to a real head (tests/helpers/cluster.py), started in its own mount
namespace (`unshare --user --map-root-user --mount`) where an empty tmpfs covers $TRANSFER_HOME: the same machine,
the same loopback, but not the same files, as a node without the shared mount would be.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from hydra import initialize_config_dir

from tests.helpers.cluster import two_nodes
from transfer import paths

pytestmark = pytest.mark.slow

NODE = """
import subprocess, sys
gcs, ray_dir, hidden = sys.argv[1:4]
subprocess.run(["mount", "-t", "tmpfs", "none", hidden], check=True)  # this namespace no longer sees the files
from ray._private.node import Node
from ray._private.parameter import RayParams
node = Node(RayParams(gcs_address=gcs, node_ip_address="127.0.0.1", num_cpus=1, resources={"blind": 1},
                      temp_dir=ray_dir, include_log_monitor=False, node_manager_port=0, min_worker_port=0,
                      max_worker_port=0, object_store_memory=150 * 1024 * 1024),
            head=False, shutdown_at_exit=True, spawn_reaper=False)
print(node.node_id, flush=True)
sys.stdin.read()  # until the test closes our stdin
node.kill_all_processes(check_alive=False, allow_graceful=False, wait=True)
"""


def test_a_node_that_cannot_see_transfer_home_is_refused_in_one_line(tmp_path, capsys):
    import ray

    from jobs.sweep import main as sweep_main

    if not shutil.which("unshare") or subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                                                     capture_output=True).returncode:
        pytest.fail("this test needs `unshare --user --mount` (util-linux, user namespaces enabled)")
    home = paths.home()
    with two_nodes(nodes=1) as head:
        blind = subprocess.Popen(["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private",
                                  sys.executable, "-c", NODE, head.address, os.path.join(head.tmp, "ray"), str(home)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            blind_id = blind.stdout.readline().strip()
            assert len(blind_id) == 56, "the blind node did not start"
            ray.init(address=head.address, log_to_driver=False)
            deadline = time.time() + 60
            while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.time() < deadline:
                time.sleep(0.5)
            with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
                code = sweep_main(["study=blind", "setting.data.max_pairs=40", "~setting.ood", "grid.methods=[vanilla]",
                                   "grid.seeds=[0]", f"runtime.ray_address={head.address}", "runtime.progress=false",
                                   f"runtime.tracking_uri=sqlite:///{tmp_path / 'mlruns.db'}"])
            err = [line for line in capsys.readouterr().err.splitlines() if "INFO" not in line]  # Ray's own logging
            assert code == 2 and len(err) == 1, err
            assert err[0].startswith(f"error: node {blind_id[:12]} (127.0.0.1) cannot see $TRANSFER_HOME={home}")
            assert "runtime.shared_home=false" in err[0]
            assert not list((home / ".cluster-check").iterdir())  # the token is removed again
        finally:
            ray.shutdown()
            blind.stdin.close()
            blind.wait(timeout=60)
