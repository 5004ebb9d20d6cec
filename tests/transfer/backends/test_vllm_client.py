"""The vLLM client and server manager without a healthy server: errors, retries, command line, no vllm import."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ops.lifecycle import free_port
from tests.helpers.backends import assert_gone, model_cfg, vllm_cfg
from transfer.backends import load_backend
from transfer.backends.http import Client, ServerError
from transfer.backends.server import ManagedServer, server_command
from transfer.backends.vllm import VLLMBackend
from transfer.errors import ConfigError, TransferError


def test_client_module_does_not_import_vllm():
    code = "import sys, transfer.backends.vllm, transfer.backends.http; assert 'vllm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_registry_builds_the_backend_without_starting_anything():
    backend = load_backend(vllm_cfg(), model_cfg("minilm_l6"))
    assert isinstance(backend, VLLMBackend) and backend.server is None
    backend.close()


def test_unreachable_url_retries_then_one_clear_line():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    backend = VLLMBackend(vllm_cfg(url=url, retries=2, backoff_s=0.05), model_cfg("minilm_l6"))
    with pytest.raises(ServerError) as err:
        backend.features(["hello"])
    msg = str(err.value)
    assert url in msg and "unreachable after 3 tries" in msg and "\n" not in msg, msg


def test_encoder_has_no_label_logprobs():
    backend = VLLMBackend(vllm_cfg(), model_cfg("minilm_l6"))
    with pytest.raises(ConfigError, match="encoder"):
        backend.label_logprobs(["Is it?"], [" A", " B"])
    assert backend.server is None  # refused before any server was started


def test_start_timeout_names_the_setting_and_shows_the_log(iso_home):
    model = model_cfg("minilm_l6")
    from transfer.models import resolve_path
    server = ManagedServer(resolve_path(model), model["name"], "embed", vllm_cfg(startup_timeout_s=1), model)
    with pytest.raises(TransferError) as err:
        server.start()  # a real vLLM process: it cannot be healthy within 1 s
    msg = str(err.value)
    assert "not healthy" in msg and "after 1 s (startup_timeout_s)" in msg and str(server.log_path) in msg, msg
    assert "vllm.entrypoints.openai.api_server" in msg  # the log's last lines (here: the command) are included
    assert_gone(server.family)


def test_causal_lm_features_use_mean_pooling_without_activation():
    cmd = server_command("/m", "smol", 1234, "embed", vllm_cfg(), model_cfg("smollm2_135m"))
    assert cmd[cmd.index("--runner") + 1] == "pooling"
    assert cmd[cmd.index("--pooler-config") + 1] == '{"pooling_type": "MEAN", "use_activation": false}'
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and "--enforce-eager" in cmd
    assert "--runner" not in server_command("/m", "smol", 1234, "generate", vllm_cfg(), model_cfg("smollm2_135m"))


class FakeFlakyServer(BaseHTTPRequestHandler):
    """A FAKE server: a transient 503 cannot be caused on demand with a real vLLM server."""

    failures_left = 2

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        status, body = (503, b"{}") if cls.failures_left > 0 else (200, b'{"ok": true}')
        cls.failures_left -= 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_transient_5xx_is_retried_with_backoff():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeFlakyServer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        client = Client(f"http://127.0.0.1:{httpd.server_port}", retries=2, backoff_s=0.01)
        assert client.post("/v1/embeddings", {"input": ["x"]}) == {"ok": True}
        FakeFlakyServer.failures_left = 3
        with pytest.raises(ServerError, match=r"unreachable after 3 tries \(HTTP 503\)"):
            client.post("/v1/embeddings", {"input": ["x"]})
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_empty_batch_needs_no_server():
    backend = VLLMBackend(vllm_cfg(url=f"http://127.0.0.1:{free_port()}"), model_cfg("minilm_l6"))
    assert backend.features([]).shape == (0, 0)
