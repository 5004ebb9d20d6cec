"""vLLM over HTTP: features from /v1/embeddings, label-token log-probs from /v1/completions.

Never imports vllm: the server is either one the harness manages (started on first use, stopped on close) or one
the user points at (`url`, a production deployment). Features and scoring need different servers for a causal LM
(a pooling runner on the truncated model vs the full generator), so a managed backend holds one at a time and
switches when asked for the other: at most one server of ours is alive.
"""

from __future__ import annotations

import base64
from typing import Sequence

import numpy as np

from transfer.backends.base import Backend
from transfer.backends.http import Client
from transfer.errors import ConfigError
from transfer.label_tokens import single_token_ids


def _chunks(seq: Sequence, n: int):
    for start in range(0, len(seq), n):
        yield seq[start:start + n]


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, backend_cfg: dict, model_cfg: dict):
        super().__init__(backend_cfg, model_cfg)
        self.batch = int(backend_cfg.get("request_batch") or 64)
        self._mode: str | None = None      # which server we hold: "embed" | "generate"
        self._server = None                # ManagedServer, or a Ray actor handle hosting one
        self._client: Client | None = None
        self._served: str | None = None    # the model name the server answers to
        self.startup_s: float | None = None
        self.stopped_pids: list[int] = []  # the last server we stopped and its descendants (for checks)

    # -- servers ---------------------------------------------------------------------------------------------
    def _attach_url(self, mode: str) -> str | None:
        cfg = self.backend_cfg
        return cfg.get("url") if mode == "embed" else (cfg.get("score_url") or cfg.get("url"))

    def _use(self, mode: str) -> tuple[Client, str]:
        if self._mode == mode:
            return self._client, self._served
        self.close()  # one server at a time
        cfg = self.backend_cfg
        url = self._attach_url(mode)
        retry = dict(retries=cfg.get("retries", 3), backoff_s=cfg.get("backoff_s", 1.0),
                     timeout_s=cfg.get("request_timeout_s", 600))
        if url:
            client = Client(url, **retry)
            served = cfg.get("served_model_name") or client.get("/v1/models")["data"][0]["id"]
        else:
            url, self.log_path = self._start(mode)
            client = Client(url, on_give_up=self._server_state, **retry)
            served = self.model_cfg["name"]
        self._mode, self._client, self._served = mode, client, served
        return client, served

    def _start(self, mode: str) -> tuple[str, str]:
        if self.backend_cfg.get("ray_actor"):
            from transfer.backends.ray_server import start_actor

            self._server, url, log_path, self.startup_s = start_actor(self.model_cfg, self.backend_cfg, mode)
            return url, log_path
        from transfer.backends.server import launch

        self._server = launch(self.model_cfg, self.backend_cfg, mode)
        self.startup_s = self._server.startup_s
        return self._server.url, str(self._server.log_path)

    def _server_state(self) -> str:
        proc = getattr(self._server, "proc", None)
        if proc is not None and proc.poll() is not None:
            return f"the managed server exited with code {proc.returncode}; log {self.log_path}"
        return f"log {self.log_path}"

    @property
    def server(self):
        return self._server

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._server is not None:
            if self.backend_cfg.get("ray_actor"):
                from transfer.backends.ray_server import stop_actor

                self.stopped_pids = stop_actor(self._server)
            else:
                self._server.stop()
                self.stopped_pids = self._server.family
        self._mode = self._server = self._client = self._served = None

    # -- the contract ----------------------------------------------------------------------------------------
    def features(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, 0), np.float32)  # no server is started (or contacted) for nothing
        client, served = self._use("embed")
        rows = []
        for batch in _chunks(list(texts), self.batch):
            # truncation by vLLM's copy of the HF tokenizer, same side and special tokens as the hf backend;
            # base64 float32: exact values, and no JSON float parsing on our side
            out = client.post("/v1/embeddings", {
                "model": served, "input": batch, "truncate_prompt_tokens": int(self.model_cfg["max_tokens"]),
                "encoding_format": "base64", "embed_dtype": "float32", "endianness": "little"})
            data = sorted(out["data"], key=lambda d: d["index"])
            rows += [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in data]
        return np.stack(rows).astype(np.float32)

    def _tokens(self, client: Client, served: str, text: str, special: bool) -> list[int]:
        return client.post("/tokenize", {"model": served, "prompt": text, "add_special_tokens": special})["tokens"]

    def label_logprobs(self, prompts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        """Each prompt's token ids + each label's single token id, scored with echo: the last token's log-prob is
        log P(label | prompt) over the full vocabulary (top-k `logprobs` caps at 20 and can miss a label)."""
        if self.model_cfg["kind"] != "causal_lm":
            raise ConfigError(f"model {self.model_cfg['name']} is an encoder: it has no label-token log-probs")
        client, served = self._use("generate")
        label_ids = single_token_ids(lambda t: self._tokens(client, served, t, special=False), labels,
                                     self.model_cfg["name"])  # the server's log-softmax is over the whole vocabulary
        out = np.zeros((len(prompts), len(labels)), dtype=np.float64)
        per_request = max(1, self.batch // len(labels))
        for start in range(0, len(prompts), per_request):
            chunk = [self._tokens(client, served, p, special=True) for p in prompts[start:start + per_request]]
            resp = client.post("/v1/completions", {
                "model": served, "prompt": [ids + [lid] for ids in chunk for lid in label_ids],
                "max_tokens": 0, "echo": True, "logprobs": 0, "temperature": 0.0})
            choices = sorted(resp["choices"], key=lambda c: c["index"])
            scores = [c["logprobs"]["token_logprobs"][-1] for c in choices]
            out[start:start + len(chunk)] = np.asarray(scores).reshape(len(chunk), len(labels))
        return out
